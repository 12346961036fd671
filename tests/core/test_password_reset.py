"""Password reset through a real SMTP listener (aiosmtpd): same answers, single-use expiring tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from core import hookimpl
from core.models import OneTimeToken, utcnow
from core.testing import TEST_PASSWORD, create_user
from core.types import AuthProviderInfo, AuthResult, Identity

NEW = "a brand new passphrase"


@pytest.fixture
def app(plugdesk_app_factory, smtp_sink):
    return plugdesk_app_factory(overrides={
        "mail": {"url": f"smtp://{smtp_sink.host}:{smtp_sink.port}", "sender": "help@example.com"},
        "server": {"base_url": "https://help.example.com"}})


def csrf(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def link_from(message) -> str:
    text = message["msg"].get_body(("plain",)).get_content()
    return re.search(r"https://help\.example\.com/password-reset/(\S+)", text).group(1)


def login(client, username, password):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_full_reset_by_web_form_follows_the_emailed_link(app, smtp_sink):
    create_user(app, username="kate")
    other_device = app.test_client()
    assert login(other_device, "kate", TEST_PASSWORD).status_code == 200
    token_header = {"Authorization": f"Bearer {login(other_device, 'kate', TEST_PASSWORD).get_json()['token']}"}
    client = app.test_client()
    evil = {"Host": "evil.example"}
    page = client.get("/password-reset", headers=evil).get_data(as_text=True)
    r = client.post("/password-reset", data={"csrf_token": csrf(page), "login": "KATE"}, headers=evil)
    assert "If an account with that username or email exists" in r.get_data(as_text=True)
    assert len(smtp_sink.delivered(app)) == 1 and smtp_sink.delivered(app)[0]["to"] == ["kate@example.com"]
    token = link_from(smtp_sink.delivered(app)[0])  # built from base_url, not the Host header
    page = client.get(f"/password-reset/{token}").get_data(as_text=True)
    r = client.post(f"/password-reset/{token}", data={"csrf_token": csrf(page), "password": "kate",
                                                      "confirm": "kate"})
    assert r.status_code == 400 and "Use at least 8 characters" in r.get_data(as_text=True)
    r = client.post(f"/password-reset/{token}", data={"csrf_token": csrf(page), "password": NEW, "confirm": NEW})
    assert r.status_code == 302
    assert login(client, "kate", NEW).status_code == 200
    assert login(client, "kate", TEST_PASSWORD).status_code == 401
    assert other_device.get("/api/v1/me", headers=token_header).status_code == 401  # sessions ended
    assert smtp_sink.delivered(app)[-1]["msg"]["Subject"] == "Your password was changed"
    assert client.get(f"/password-reset/{token}").status_code == 400  # single use


def test_same_answer_for_unknown_and_known_accounts(app, smtp_sink):
    create_user(app, username="liam")
    client = app.test_client()
    known = client.post("/api/v1/auth/password-reset", json={"login": "liam"})
    unknown = client.post("/api/v1/auth/password-reset", json={"login": "nobody-here"})
    assert known.status_code == unknown.status_code == 202 and known.get_json() == unknown.get_json()
    assert len(smtp_sink.delivered(app)) == 1


def test_reset_by_email_address(app, smtp_sink):
    create_user(app, username="mia")
    app.test_client().post("/api/v1/auth/password-reset", json={"login": "MIA@example.com"})
    assert smtp_sink.delivered(app)[0]["to"] == ["mia@example.com"]


def confirm(app, token, password=NEW):
    return app.test_client().post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


def test_expired_reused_truncated_and_superseded_tokens(app, smtp_sink):
    create_user(app, username="noah")
    client = app.test_client()
    client.post("/api/v1/auth/password-reset", json={"login": "noah"})
    first = link_from(smtp_sink.delivered(app)[0])
    client.post("/api/v1/auth/password-reset", json={"login": "noah"})
    second = link_from(smtp_sink.delivered(app)[1])
    assert confirm(app, first).status_code == 400  # superseded by the newer request
    assert confirm(app, second[:-4]).status_code == 400  # truncated
    assert confirm(app, second + "x").status_code == 400
    assert confirm(app, "").status_code == 400
    assert confirm(app, second).status_code == 204
    assert confirm(app, second).status_code == 400  # reused
    client.post("/api/v1/auth/password-reset", json={"login": "noah"})
    third = link_from(smtp_sink.delivered(app)[-1])
    with app.extensions["plugdesk"].db.session() as s:
        s.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert confirm(app, third).status_code == 400  # expired


def test_token_only_changes_its_own_account(app, smtp_sink):
    create_user(app, username="olga")
    create_user(app, username="pete")
    app.test_client().post("/api/v1/auth/password-reset", json={"login": "olga"})
    assert confirm(app, link_from(smtp_sink.delivered(app)[0])).status_code == 204
    assert login(app.test_client(), "pete", TEST_PASSWORD).status_code == 200
    assert login(app.test_client(), "pete", NEW).status_code == 401


def test_weak_password_keeps_the_token_usable(app, smtp_sink):
    create_user(app, username="quinn")
    app.test_client().post("/api/v1/auth/password-reset", json={"login": "quinn"})
    token = link_from(smtp_sink.delivered(app)[0])
    r = confirm(app, token, "quinn")
    assert r.status_code == 422 and r.get_json()["errors"]["password"]
    assert confirm(app, token).status_code == 204


def test_locked_user_can_reset_and_the_lock_is_cleared(app, smtp_sink):
    create_user(app, username="rosa")
    client = app.test_client()
    for _ in range(10):
        login(client, "rosa", "wrong password!")
    assert login(client, "rosa", TEST_PASSWORD).status_code == 401
    client.post("/api/v1/auth/password-reset", json={"login": "rosa"})
    assert confirm(app, link_from(smtp_sink.delivered(app)[0])).status_code == 204
    assert login(client, "rosa", NEW).status_code == 200


def test_switch_off_sends_nothing_and_hides_the_link(app, smtp_sink):
    create_user(app, username="sam")
    app.extensions["plugdesk"].runtime.patch({"security.password_reset.enabled": False}, actor="t")
    assert app.test_client().post("/api/v1/auth/password-reset", json={"login": "sam"}).status_code == 202
    assert smtp_sink.delivered(app) == []
    assert "Forgot your password?" not in app.test_client().get("/login").get_data(as_text=True)
    assert app.test_client().get("/password-reset").status_code == 404


class Directory:
    @hookimpl
    def auth_providers(self):
        return [AuthProviderInfo(name="corp", label="Corporate directory", external=True)]

    @hookimpl
    def auth_authenticate(self, username, password):
        if password == "directory password":
            return AuthResult.ok(Identity(provider="corp", username=username, external_id=f"uuid-{username}",
                                          email=f"{username}@corp.example", email_verified=True))
        return None


def test_directory_accounts_never_get_a_reset_email(plugdesk_app_factory, smtp_sink):
    app = plugdesk_app_factory(["auth_local", "corp"], extra={"corp": Directory()},
                               overrides={"mail": {"url": f"smtp://{smtp_sink.host}:{smtp_sink.port}"}})
    client = app.test_client()
    assert login(client, "tina", "directory password").status_code == 200
    assert client.post("/api/v1/auth/password-reset", json={"login": "tina"}).status_code == 202
    assert client.post("/api/v1/auth/password-reset", json={"login": "tina@corp.example"}).status_code == 202
    assert smtp_sink.delivered(app) == []


def test_only_directory_providers_means_reset_unavailable(plugdesk_app_factory):
    from core.auth.reset import reset_available

    app = plugdesk_app_factory(["corp"], extra={"corp": Directory()})
    available, why = reset_available(app.extensions["plugdesk"])
    assert not available and "directory" in why


def test_settings_page_shows_reset_switch_disabled_with_reason(plugdesk_app_factory, login_as):
    app = plugdesk_app_factory(["corp"], extra={"corp": Directory()})
    from core.users import UserDirectory

    admin = UserDirectory(app.extensions["plugdesk"].db).create(username="root", email="root@example.com",
                                                                 role="admin", provider="local")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["uid"], sess["sv"], sess["nonce"] = admin.id, 1, "t"
    page = client.get("/manage/settings").get_data(as_text=True)
    assert "Every enabled auth provider keeps its passwords elsewhere (Corporate directory)" in page
    assert 'id="security.password_reset.enabled" checked disabled' in page
