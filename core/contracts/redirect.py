"""``RedirectLoginContract``: what every redirect-login plugin (OpenID Connect, OAuth 2, SAML) guarantees.

Subclass it in your plugin's tests, name the plugin and provide ``sign_in``: the person's part at the
provider, given the authorization URL the plugin made, returning the query parameters the provider sends
the browser back with::

    from core.testing import RedirectLoginContract

    class TestMySso(RedirectLoginContract):
        plugin_name = "mysso"
        overrides = {"server": {"base_url": "http://rp.test"},
                     "plugins": {"mysso": {"issuer": "http://127.0.0.1:9999"}}}

        @pytest.fixture
        def sign_in(self):
            def at_provider(url: str) -> dict[str, str]:
                ...  # follow url at your test provider, log in as a test user, return the callback's query
            return at_provider

The suite checks the hooks directly (what they return, that refusals are results and not exceptions) and the
whole round trip through core's pages: the login page button, ``state`` made and checked by core, the
account created just in time and found again, a replayed callback refused, and no password-reset email
for the provider's accounts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from core.contracts import PluginUnderTest
from core.types import AuthProviderInfo, AuthResult, AuthStatus, RedirectProviderInfo, RedirectStart, RequestInfo

REQUEST = RequestInfo(remote_addr="198.51.100.24", user_agent="contract-suite", path="/login/sso")
STATE = "contract-suite-state-0123456789abcdefghijklmnopqrstuv"


class RedirectLoginContract(PluginUnderTest):
    """Pytest class suite for redirect-login plugins (not collected itself; subclasses are)."""

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def sign_in(self) -> Callable[[str], dict[str, str]]:
        """``sign_in(authorization_url) -> callback query parameters`` for a test account at the provider."""
        raise NotImplementedError("subclass RedirectLoginContract and provide a `sign_in` fixture")

    # ------------------------------------------------------------------ helpers
    def redirect_providers(self, app: Any) -> list[RedirectProviderInfo]:
        """What the plugin's ``auth_redirect_providers`` returns."""
        return list(self.call(app, "auth_redirect_providers") or [])

    def provider(self, app: Any) -> str:
        """The first redirect provider's name (the one the round trip uses)."""
        listed = self.redirect_providers(app)
        assert listed, "auth_redirect_providers returned nothing"
        return listed[0].name

    def begin(self, app: Any, state: str = STATE) -> RedirectStart:
        """The plugin's own ``auth_redirect_begin`` for the first provider."""
        name = self.provider(app)
        return self.call(app, "auth_redirect_begin", provider=name, state=state,
                         redirect_uri=self.callback_url(app, name))

    @staticmethod
    def callback_url(app: Any, name: str) -> str:
        """The redirect URI core registers for provider ``name``."""
        return app.extensions["plugdesk"].settings.get("server", "base_url").rstrip("/") + f"/login/sso/{name}/callback"

    @staticmethod
    def press_button(client: Any, name: str) -> Any:
        """Press "Sign in with ..." on the login page (its CSRF-protected form)."""
        html = client.get("/login").get_data(as_text=True)
        assert f'action="/login/sso/{name}"' in html, "the login page shows no button for the provider"
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
        assert token, "no CSRF token on the login page"
        return client.post(f"/login/sso/{name}", data={"csrf_token": token.group(1)})

    def round_trip(self, app: Any, client: Any, sign_in: Callable[[str], dict[str, str]]) -> tuple[Any, dict]:
        """Button, provider, callback: plugdesk's answer to the callback and the parameters it got."""
        name = self.provider(app)
        started = self.press_button(client, name)
        assert started.status_code == 200 and started.headers.get("Refresh", "").startswith("0; url="), \
            started.get_data(as_text=True)
        params = sign_in(started.headers["Refresh"][len("0; url="):])
        return client.get(f"/login/sso/{name}/callback?{urlencode(params)}"), params

    # ------------------------------------------------------------------ the contract
    def test_declares_redirect_providers(self, app: Any) -> None:
        listed = self.redirect_providers(app)
        declared = {p.name: p for p in self.call(app, "auth_providers") or []}
        assert listed and all(isinstance(p, RedirectProviderInfo) for p in listed)
        for info in listed:
            assert info.label.strip(), "the button needs a label"
            assert info.link_existing in ("password", "never")
            assert isinstance(declared.get(info.name), AuthProviderInfo) and declared[info.name].external, \
                "every redirect provider is also an external auth provider (no local password, no reset)"

    def test_begin_gives_a_url_carrying_state(self, app: Any) -> None:
        start = self.begin(app)
        assert isinstance(start, RedirectStart)
        assert urlsplit(start.url).scheme in ("http", "https") and STATE in start.url
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in start.keep.items())
        assert len(repr(dict(start.keep))) <= 2048
        other = self.begin(app, state=STATE[::-1])
        assert other.url != start.url and (not start.keep or other.keep != start.keep), "every attempt is fresh"

    def test_cancelled_or_refused_answer_is_a_denial_not_an_exception(self, app: Any) -> None:
        start = self.begin(app)
        for params in ({"error": "access_denied", "state": STATE}, {"code": "not-a-real-code", "state": STATE},
                       {"state": STATE}, {"code": "x" * 5000, "state": STATE}):
            result = self.call(app, "auth_redirect_complete", provider=self.provider(app), params=params,
                               kept=dict(start.keep), redirect_uri=self.callback_url(app, self.provider(app)),
                               request=REQUEST)
            assert isinstance(result, AuthResult) and result.status is not AuthStatus.OK, params
            assert result.reason, "say why in reason (for the admin's log)"
        cancelled = self.call(app, "auth_redirect_complete", provider=self.provider(app),
                              params={"error": "access_denied", "state": STATE}, kept=dict(start.keep),
                              redirect_uri=self.callback_url(app, self.provider(app)), request=REQUEST)
        assert cancelled.message, "tell the person what happened (AuthResult.message)"

    def test_round_trip_logs_in_and_finds_the_account_again(self, app: Any, sign_in: Callable) -> None:
        first = app.test_client()
        answer, _params = self.round_trip(app, first, sign_in)
        assert answer.status_code in (302, 303), answer.get_data(as_text=True)
        with first.session_transaction() as session:
            user_id = session.get("uid")
        assert user_id is not None, "no session after a successful sign-in"
        user = app.extensions["plugdesk"].ctx.users.get(user_id)
        assert user.provider == self.provider(app), "the account belongs to the redirect provider"
        second = app.test_client()
        again, _ = self.round_trip(app, second, sign_in)
        with second.session_transaction() as session:
            assert session.get("uid") == user_id, "the same person must open the same account (stable external_id)"
        assert again.status_code in (302, 303)

    def test_accounts_are_never_sent_a_reset_email(self, app: Any, sign_in: Callable) -> None:
        from sqlalchemy import func, select

        from core.models import OneTimeToken
        from core.testing import deliver_mail

        client = app.test_client()
        answer, _params = self.round_trip(app, client, sign_in)
        assert answer.status_code in (302, 303), answer.get_data(as_text=True)
        with client.session_transaction() as session:
            user = app.extensions["plugdesk"].ctx.users.get(session.get("uid"))
        self.state(app).runtime.patch({"security.password_reset.enabled": True}, actor="contract-suite")
        deliver_mail(app)  # whatever the sign-in itself queued
        for login in dict.fromkeys(x for x in (user.username, user.email) if x):
            assert app.test_client().post("/api/v1/auth/password-reset", json={"login": login}).status_code == 202
        assert deliver_mail(app).sent == 0, "a reset email went out for an account of a redirect provider"
        with self.state(app).db.session() as s:
            issued = s.scalar(select(func.count()).select_from(OneTimeToken).where(
                OneTimeToken.user_id == user.id, OneTimeToken.purpose == "password_reset"))
        assert issued == 0, "a reset link was issued for an account of a redirect provider"

    def test_replayed_callback_is_refused(self, app: Any, sign_in: Callable) -> None:
        client = app.test_client()
        answer, params = self.round_trip(app, client, sign_in)
        assert answer.status_code in (302, 303)
        replay = client.get(f"/login/sso/{self.provider(app)}/callback?{urlencode(params)}")
        assert replay.status_code == 400 and "Traceback" not in replay.get_data(as_text=True)

    def test_never_accepts_passwords(self, app: Any) -> None:
        if self.implements(app, "auth_authenticate"):
            for password in ("x", "correct horse battery staple"):
                result = self.call(app, "auth_authenticate", username="alice", password=password, request=REQUEST,
                                   username_as_typed="alice")
                assert result is None or result.status is not AuthStatus.OK
        if self.implements(app, "auth_set_password"):
            assert not self.implements(app, "auth_set_password"), "external providers never store passwords"

    def test_logout_url_is_http_or_none(self, app: Any) -> None:
        if not self.implements(app, "auth_redirect_logout"):
            pytest.skip("the plugin offers no provider logout")
        from datetime import UTC, datetime

        from core.types import UserInfo

        user = UserInfo(id=1, username="x", email="", display_name="x", role="user", provider=self.provider(app),
                        verified=False, is_active=True, created_at=datetime.now(UTC))
        url = self.call(app, "auth_redirect_logout", provider=self.provider(app), user=user,
                        post_logout_redirect_uri="http://rp.test/")
        assert url is None or urlsplit(url).scheme in ("http", "https")
