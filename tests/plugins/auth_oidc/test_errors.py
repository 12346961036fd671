"""Every way a single sign-on can fail is a readable page (never a traceback) and a line in the admin's log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import update

from core.models import User
from tests.realservers import free_port

pytestmark = pytest.mark.slow


def _page(response: Any, status: int, *phrases: str) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert "Traceback" not in body and "Back to the login page" in body
    for phrase in phrases:
        assert phrase in body, body
    return body


def test_provider_down(oidc_app, browser, caplog) -> None:
    app = oidc_app(issuer=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    with caplog.at_level(logging.WARNING):
        _page(browser(app).begin(), 503, "Test IdP cannot be reached right now")
    assert "could not begin" in caplog.text and "discovery" in caplog.text


def test_provider_down_at_the_token_endpoint(oidc_app, browser, fresh_oidc_server, caplog) -> None:
    app = oidc_app(fresh_oidc_server, timeout_seconds=2)
    person = browser(app)
    params = person.at_provider(person.authorize_url(), "alice", "alice-idp-pw")
    fresh_oidc_server.stop()
    _page(person.callback(params), 503, "Test IdP cannot be reached right now")
    assert "token endpoint" in caplog.text


def test_user_cancelled_at_the_provider(oidc_app, browser, caplog) -> None:
    app = oidc_app()
    person = browser(app)
    params = person.at_provider(person.authorize_url(), "", "", cancel=True)
    assert params["error"] == "access_denied"
    _page(person.callback(params), 403, "You cancelled signing in with Test IdP")
    assert "cancelled" in caplog.text and person.user_id() is None


def test_wrong_password_at_the_provider_never_comes_back(oidc_app, browser) -> None:
    person = browser(oidc_app())
    page = person._follow(person.authorize_url())
    action = __import__("re").search(r'action="([^"]+)"', page.text).group(1)
    again = person._follow(page.url.split("/interaction")[0] + action, data={"username": "alice", "password": "x"})
    assert "Wrong username or password" in again.text


def test_missing_email_claim(oidc_app, browser, caplog) -> None:
    app = oidc_app()
    _page(browser(app).login("bob", "bob-idp-pw"), 403, "did not share a usable email address")
    assert "no 'email' claim" in caplog.text
    relaxed = oidc_app(require_email=False)
    person = browser(relaxed)
    assert person.login("bob", "bob-idp-pw").status_code == 302
    assert relaxed.extensions["plugdesk"].ctx.users.get(person.user_id()).email == ""


def test_only_verified_emails(oidc_app, browser, caplog) -> None:
    app = oidc_app(verified_emails_only=True)
    _page(browser(app).login("carol", "carol-idp-pw"), 403, "did not share a usable email address")
    assert "not verified" in caplog.text
    assert browser(app).login("alice", "alice-idp-pw").status_code == 302


def test_allowed_domains(oidc_app, browser) -> None:
    app = oidc_app(allowed_domains=["example.net"])
    _page(browser(app).login("alice", "alice-idp-pw"), 403, "not from an organisation this help desk serves")
    assert browser(oidc_app(allowed_domains=["example.org"])).login("alice", "alice-idp-pw").status_code == 302


def test_disabled_local_account(oidc_app, browser, caplog) -> None:
    app = oidc_app()
    first = browser(app)
    first.login("alice", "alice-idp-pw")
    with app.extensions["plugdesk"].db.session() as s:
        s.execute(update(User).where(User.id == first.user_id()).values(is_active=False))
    person = browser(app)
    _page(person.login("alice", "alice-idp-pw"), 403, "This account is disabled")
    assert "missing or disabled" in caplog.text and person.user_id() is None


def test_unknown_provider_and_missing_csrf(oidc_app, browser) -> None:
    app = oidc_app()
    person = browser(app)
    _page(person.begin("nosuch"), 404, "does not offer that way of signing in")
    _page(person.callback({"code": "x", "state": "y"}, provider="nosuch"), 404)
    assert person.client.post("/login/sso/testidp").status_code == 400  # no CSRF token: no flow starts


def test_login_page_lists_every_provider(oidc_app, oidc_server) -> None:
    second = {"name": "second", "label": "Second IdP", "issuer": oidc_server.issuer, "client_id": "plugdesk",
              "client_secret": "plugdesk-secret"}
    app = oidc_app(extra_providers=[second])
    html = app.test_client().get("/login").get_data(as_text=True)
    assert html.index("Sign in with Test IdP") < html.index("Sign in with Second IdP")
    assert 'action="/login/sso/second"' in html
