"""``AuthProviderContract``: what every auth plugin (``auth_providers`` + ``auth_authenticate``) guarantees.

Subclass it in your plugin's tests, name the plugin and provide an ``account`` fixture::

    from core.testing import AuthProviderContract

    class TestMyAuth(AuthProviderContract):
        plugin_name = "myauth"
        plugin = plugdesk_myauth          # omit once the package is installed

        @pytest.fixture
        def account(self, app):
            # an account your backend knows: create it, or name one your test server has
            return ("alice", "Alice#Pw1")

Optionally provide ``backend_down`` - an app whose backend cannot be reached (e.g. pointed at a closed port);
without it that test is skipped. The suite calls the plugin's own ``auth_authenticate`` directly (with inputs
core would never pass, since a provider must not rely on core alone) and core's login flow. For ``external``
providers it also checks that a reset request for their user sends nothing and issues no link; like every
suite it checks that a bad configuration table is refused naming the key (set ``invalid_config``).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from core.contracts import PluginUnderTest
from core.types import AuthProviderInfo, AuthResult, AuthStatus, RequestInfo, Role, UserInfo

REQUEST = RequestInfo(remote_addr="198.51.100.23", user_agent="contract-suite", path="/login")
HOSTILE_USERNAMES = ["*", "*)(uid=*", "admin)(|(userPassword=*)", "\x00", "a" * 5000, "ünïcödé-ȕser",
                     "DOMAIN\\*", "' OR '1'='1", "%", "alice\x00admin"]


class AuthProviderContract(PluginUnderTest):
    """Pytest class suite for auth providers (not collected itself; subclasses are)."""

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def account(self, app: Any) -> tuple[str, str]:
        """``(username, password)`` of an account this provider owns."""
        raise NotImplementedError("subclass AuthProviderContract and provide an `account` fixture")

    @pytest.fixture
    def backend_down(self) -> Any:
        """An app with the plugin enabled whose backend is unreachable (optional)."""
        pytest.skip("no `backend_down` fixture: the unreachable-backend check is not run")

    # ------------------------------------------------------------------ helpers
    def authenticate(self, app: Any, username: str, password: str) -> AuthResult | None:
        """The plugin's own ``auth_authenticate`` with core's normalisation; checks the result's type."""
        from core.users import normalize_username

        result = self.call(app, "auth_authenticate", username=normalize_username(username) if username.strip()
                           else username, password=password, request=REQUEST, username_as_typed=username)
        assert result is None or isinstance(result, AuthResult), f"returned {type(result).__name__}"
        if result is not None and result.status is AuthStatus.OK:
            assert result.identity is not None, "AuthResult.ok needs an identity"
        return result

    def login(self, app: Any, username: str, password: str) -> Any:
        """Core's login flow (the one the web form and the API use)."""
        from core.auth.login import authenticate

        with app.app_context():
            return authenticate(self.state(app), username, password, REQUEST)

    def providers(self, app: Any) -> dict[str, AuthProviderInfo]:
        """The plugin's providers by name."""
        return {p.name: p for p in self.call(app, "auth_providers")}

    @staticmethod
    def accepted(result: AuthResult | None) -> bool:
        """True when a provider said yes."""
        return result is not None and result.status is AuthStatus.OK

    # ------------------------------------------------------------------ the contract
    def test_declares_providers(self, app: Any) -> None:
        listed = self.call(app, "auth_providers")
        assert listed and all(isinstance(p, AuthProviderInfo) for p in listed)
        names = [p.name for p in listed]
        assert all(isinstance(n, str) and n.strip() for n in names) and len(set(names)) == len(names)
        assert all(p.label.strip() for p in listed), "every provider needs a label for the login page"

    def test_right_password_gives_an_identity(self, app: Any, account: tuple[str, str]) -> None:
        username, password = account
        result = self.authenticate(app, username, password)
        assert self.accepted(result), f"the right password was not accepted: {result}"
        assert result is not None and result.identity is not None, "an accepted login carries an identity"
        identity = result.identity
        providers = self.providers(app)
        assert identity.provider in providers, f"identity.provider {identity.provider!r} is not declared"
        if providers[identity.provider].external:
            assert identity.external_id, "external providers give a stable external_id"
        else:
            assert identity.user_id is not None, "local providers name the existing account (user_id)"
        assert identity.username.strip()

    def test_right_password_logs_in_through_core(self, app: Any, account: tuple[str, str]) -> None:
        username, password = account
        outcome = self.login(app, username, password)
        assert outcome.user is not None, outcome.message
        assert outcome.user.provider in self.providers(app)
        again = self.login(app, username.upper(), password)  # core case-folds; one account either way
        assert again.user is not None and again.user.id == outcome.user.id

    def test_wrong_password_is_denied_or_deferred(self, app: Any, account: tuple[str, str]) -> None:
        username, password = account
        for wrong in (password + "x", password[:-1], password.upper() if password.upper() != password
                      else password.lower(), "not-the-password-1"):
            result = self.authenticate(app, username, wrong)
            assert not self.accepted(result), f"wrong password {wrong!r} accepted"
            assert result is None or result.status in (AuthStatus.DENIED, AuthStatus.UNAVAILABLE)
        from core.auth.login import GENERIC_FAILURE

        assert self.login(app, username, password + "x").message == GENERIC_FAILURE

    def test_unknown_user_is_not_accepted(self, app: Any, account: tuple[str, str]) -> None:
        _username, password = account
        assert not self.accepted(self.authenticate(app, "nobody-by-this-name-7f3a", password))
        assert self.login(app, "nobody-by-this-name-7f3a", password).user is None

    @pytest.mark.parametrize("which", ["empty password", "blank password", "empty username", "blank username",
                                       "both empty", "tab and newline password"])
    def test_empty_or_whitespace_credentials_never_succeed(self, app: Any, account: tuple[str, str],
                                                           which: str) -> None:
        username, _password = account
        user, pw = {"empty password": (username, ""), "blank password": (username, "   "),
                    "empty username": ("", "x"), "blank username": ("  ", "x"), "both empty": ("", ""),
                    "tab and newline password": (username, "\t\n")}[which]
        assert not self.accepted(self.authenticate(app, user, pw))
        assert self.login(app, user, pw).user is None

    @pytest.mark.parametrize("username", HOSTILE_USERNAMES, ids=range(len(HOSTILE_USERNAMES)))
    def test_hostile_usernames_are_refused_without_raising(self, app: Any, account: tuple[str, str],
                                                           username: str) -> None:
        _real, password = account
        for pw in (password, "*"):
            assert not self.accepted(self.authenticate(app, username, pw)), f"{username!r} was accepted"

    def test_long_and_odd_passwords_are_refused_without_raising(self, app: Any, account: tuple[str, str]) -> None:
        username, password = account
        for pw in ("x" * 10_000, password + "\x00", "\x00" + password, "*", "🔑" * 50):
            assert not self.accepted(self.authenticate(app, username, pw))

    def test_password_never_logged(self, app: Any, account: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
        username, password = account
        wrong = "Wr0ng-and-Secret-Value-51"
        with caplog.at_level(logging.DEBUG):
            self.login(app, username, password)
            self.login(app, username, wrong)
            self.authenticate(app, username, wrong)
        for record in caplog.records:
            text = record.getMessage() + repr(getattr(record, "args", ())) + repr(vars(record).get("plugdesk"))
            assert password not in text and wrong not in text, f"a password reached the log: {record.name}"

    def test_set_password_only_for_own_local_accounts(self, app: Any, account: tuple[str, str]) -> None:
        username, password = account
        user = self.login(app, username, password).user
        assert user is not None
        info = self.providers(app)[user.provider]
        has_impl = self.implements(app, "auth_set_password")
        new = "A brand new passphrase 42"
        if info.external:
            if has_impl:
                assert self.call(app, "auth_set_password", user=user, password=new) is not True, \
                    "external providers never accept auth_set_password"
            assert self.login(app, username, new).user is None
            assert self.login(app, username, password).user is not None
        else:
            assert has_impl, "a provider that keeps passwords (external=False) implements auth_set_password"
            assert self.call(app, "auth_set_password", user=user, password=new) is True
            assert self.accepted(self.authenticate(app, username, new))
            assert not self.accepted(self.authenticate(app, username, password))
        if has_impl:
            stranger = UserInfo(id=user.id, username=user.username, email=user.email, display_name="",
                                role=Role.USER, provider="someone-elses-provider", verified=True, is_active=True,
                                created_at=user.created_at)
            assert self.call(app, "auth_set_password", user=stranger, password=new) is None, \
                "auth_set_password must return None for users of other providers"

    def test_external_users_are_never_sent_a_reset_email(self, app: Any, account: tuple[str, str]) -> None:
        from sqlalchemy import func, select

        from core.models import OneTimeToken
        from core.testing import deliver_mail

        username, password = account
        user = self.login(app, username, password).user
        assert user is not None
        if not self.providers(app)[user.provider].external:
            pytest.skip(f"{user.provider!r} keeps its own passwords (external=False): its users may reset them")
        self.state(app).runtime.patch({"security.password_reset.enabled": True}, actor="contract-suite")
        deliver_mail(app)  # whatever the login itself queued
        client = app.test_client()
        for login in dict.fromkeys(x for x in (username, user.username, user.email) if x):
            assert client.post("/api/v1/auth/password-reset", json={"login": login}).status_code == 202
        report = deliver_mail(app)
        assert report.sent == 0, f"{report.sent} message(s) went out after reset requests for an external account"
        with self.state(app).db.session() as s:
            issued = s.scalar(select(func.count()).select_from(OneTimeToken).where(
                OneTimeToken.user_id == user.id, OneTimeToken.purpose == "password_reset"))
        assert issued == 0, "a reset link was issued for an account of an external provider"

    def test_unreachable_backend_is_not_a_login(self, backend_down: Any, account: tuple[str, str]) -> None:
        username, password = account
        result = self.authenticate(backend_down, username, password)
        assert not self.accepted(result)
        assert result is None or result.status in (AuthStatus.UNAVAILABLE, AuthStatus.DENIED)
        assert self.login(backend_down, username, password).user is None
