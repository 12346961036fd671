"""auth_oidc against the real provider: accounts, roles, linking, logout, key rotation (no browser; see
tests/e2e/test_oidc_browser.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from core.testing import create_user
from tests.oidc.flow import leave_url

pytestmark = __import__("pytest").mark.slow


def _state(app: Any) -> Any:
    return app.extensions["plugdesk"]


def _user(app: Any, user_id: int | None) -> Any:
    assert user_id is not None, "not logged in"
    return _state(app).ctx.users.get(user_id)


def test_login_creates_an_external_account_with_the_mapped_role(oidc_app, browser, hook_recorder) -> None:
    app = oidc_app()
    recorder = hook_recorder(app)
    person = browser(app)
    response = person.login("alice", "alice-idp-pw")
    assert response.status_code == 302 and response.headers["Location"].endswith("/"), response.get_data(as_text=True)
    user = _user(app, person.user_id())
    assert (user.provider, user.role, user.email, user.verified) == ("testidp", "agent", "alice@example.org", True)
    assert user.display_name == "Alice Adams" and user.username == "alice"
    assert [c["user"].id for c in recorder.calls("user_registered")] == [user.id]
    assert [c["user"].id for c in recorder.calls("user_logged_in")] == [user.id]
    assert [c["provider"] for c in recorder.calls("auth_redirect_begin")] == ["testidp"]
    assert recorder.calls("auth_redirect_complete")[0]["kept"].keys() == {"verifier", "nonce"}


def test_second_login_opens_the_same_account(oidc_app, browser) -> None:
    app = oidc_app()
    first, second = browser(app), browser(app)
    first.login("alice", "alice-idp-pw")
    assert second.login("alice", "alice-idp-pw").status_code == 302
    assert second.user_id() == first.user_id()


def test_groups_map_to_the_highest_role_and_a_local_username_is_not_taken_over(oidc_app, browser) -> None:
    app = oidc_app()
    local = create_user(app, "user", username="erin")
    person = browser(app)
    person.login("erin", "erin-idp-pw")
    user = _user(app, person.user_id())
    assert user.id != local.id and user.role == "admin" and user.username != "erin"
    assert user.username.startswith("erin-")


def test_the_next_page_is_kept_through_the_round_trip(oidc_app, browser) -> None:
    app = oidc_app()
    person = browser(app)
    response = person.begin(next_url="/profile")
    params = person.at_provider(leave_url(response), "alice", "alice-idp-pw")
    assert person.callback(params).headers["Location"].endswith("/profile")
    evil = browser(app)
    params = evil.at_provider(leave_url(evil.begin(next_url="https://evil.example/")), "alice", "alice-idp-pw")
    assert evil.callback(params).headers["Location"] == "/"  # an outside target is dropped


def test_authorization_request_uses_pkce_state_and_nonce(oidc_app, browser) -> None:
    app = oidc_app()
    query = parse_qs(urlsplit(browser(app).authorize_url()).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == ["http://rp.test/login/sso/testidp/callback"]
    assert query["scope"] == ["openid email profile groups"] and query["response_type"] == ["code"]


def test_external_accounts_never_get_a_password_reset(oidc_app, browser) -> None:
    from core.auth.reset import render_reset_mail

    app = oidc_app()
    person = browser(app)
    person.login("alice", "alice-idp-pw")
    with app.app_context():
        assert render_reset_mail(_state(app), {"login": "alice"}) is None
        assert render_reset_mail(_state(app), {"login": "alice@example.org"}) is None
    assert "managed by" in person.client.get("/profile").get_data(as_text=True)


def test_existing_account_is_linked_only_after_its_password(oidc_app, browser) -> None:
    app = oidc_app(link_existing="password")
    dave = create_user(app, "manager", username="dave", password="Dave's local passphrase 1")
    _set_email(app, "dave", "dave@example.org")
    person = browser(app)
    response = person.login("dave", "dave-idp-pw")
    assert response.status_code == 303 and response.headers["Location"] == "/login/sso/link"
    page = person.client.get("/login/sso/link").get_data(as_text=True)
    assert "dave@example.org" in page and "Link your Test IdP sign-in" in page
    wrong = person.client.post("/login/sso/link", data={"csrf_token": person.csrf_from("/login/sso/link"),
                                                        "password": "not it"})
    assert wrong.status_code == 400 and person.user_id() is None
    right = person.client.post("/login/sso/link", data={"csrf_token": person.csrf_from("/login/sso/link"),
                                                        "password": "Dave's local passphrase 1"})
    assert right.status_code == 302 and person.user_id() == dave.id
    assert _user(app, dave.id).provider == "local"  # the password login keeps working
    assert _user(app, dave.id).role == "manager"  # the provider's role map ("user" here) is not applied
    again = browser(app)
    assert again.login("dave", "dave-idp-pw").status_code == 302 and again.user_id() == dave.id


def test_existing_account_is_never_linked_when_the_rule_says_never(oidc_app, browser, caplog) -> None:
    app = oidc_app()  # link_existing defaults to "never"
    create_user(app, "user", username="dave", password="Dave's local passphrase 1")
    _set_email(app, "dave", "dave@example.org")
    response = browser(app).login("dave", "dave-idp-pw")
    assert response.status_code == 409
    assert "already has an account for dave@example.org" in response.get_data(as_text=True)
    assert "linking is off" in caplog.text


def test_an_unverified_address_is_never_linked(oidc_app, browser) -> None:
    app = oidc_app(link_existing="password")
    create_user(app, "user", username="carol", password="Carol's local passphrase 1")
    _set_email(app, "carol", "carol@example.org")
    response = browser(app).login("carol", "carol-idp-pw")
    assert response.status_code == 409 and "Sign in with its username and password" in response.get_data(as_text=True)


def _set_email(app: Any, username: str, email: str) -> None:
    from core.models import User

    with _state(app).db.session() as s:
        s.execute(update(User).where(User.username == username).values(email=email, email_key=email))


def test_logout_signs_out_at_the_provider_too(oidc_app, browser, oidc_server) -> None:
    app = oidc_app()
    person = browser(app)
    person.login("alice", "alice-idp-pw")
    response = person.client.post("/logout", data={"csrf_token": person.csrf_from("/profile")})
    assert "Signing you out at Test IdP too" in response.get_data(as_text=True)
    target = urlsplit(leave_url(response))
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_server.issuer}/session/end"
    assert parse_qs(target.query) == {"client_id": ["plugdesk"], "post_logout_redirect_uri": ["http://rp.test/"]}
    assert person.user_id() is None
    end = person.idp.get(leave_url(response))
    assert end.status_code == 200 and "logout" in end.text.lower()  # the provider's own sign-out page
    no_logout = oidc_app(logout=False)
    other = browser(no_logout)
    other.login("alice", "alice-idp-pw")
    assert other.client.post("/logout", data={"csrf_token": other.csrf_from("/profile")}).headers["Location"] == "/"


def test_signing_key_rotation_is_followed(oidc_app, browser, fresh_oidc_server) -> None:
    import plugins.auth_oidc.client as client_module

    app = oidc_app(fresh_oidc_server)
    assert browser(app).login("alice", "alice-idp-pw").status_code == 302
    fresh_oidc_server.restart()  # a new signing key with a new kid
    client_module.JWKS_MIN_REFETCH, saved = 0.0, client_module.JWKS_MIN_REFETCH
    try:
        person = browser(app)
        assert person.login("alice", "alice-idp-pw").status_code == 302 and person.user_id() is not None
    finally:
        client_module.JWKS_MIN_REFETCH = saved


def test_diagnose_fetches_discovery_and_jwks(oidc_app, oidc_server) -> None:
    app = oidc_app()
    with app.app_context():
        steps = _state(app).host.one("auth_oidc", "plugin_diagnose", ctx=_state(app).ctx, provider=None,
                                     username=None)
    assert [s.name for s in steps] == ["testidp: config", "testidp: discovery", "testidp: jwks"]
    assert all(s.ok for s in steps), steps
    assert "http://rp.test/login/sso/testidp/callback" in steps[0].detail and "plugdesk-secret" not in str(steps)
    assert f"{oidc_server.issuer}/token" in steps[1].detail and "1 key(s)" in steps[2].detail
