"""A single sign-on of an account with plugdesk's own second factor counts as a login only once that factor
passed, as a password login does: no login counted, no ``user_logged_in``, no last-login time, and no link of
the external sign-in to an existing account before it (a provider login can never skip the second factor)."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select, update

from core import AuthResult, Identity, hookimpl
from core.auth.external_logins import linked_user_id
from core.models import AuditEntry, User
from core.testing import TEST_PASSWORD, create_user
from core.twofactor import totp
from tests.core.test_redirect_login import FakeSso
from tests.oidc.flow import leave_url


class LoginSpy:
    """Counts every ``user_logged_in``."""

    def __init__(self) -> None:
        self.logins: list[int] = []

    @hookimpl
    def user_logged_in(self, user: Any) -> None:
        self.logins.append(user.id)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``plugdesk_logins_total`` increment (the result label), from every place that counts."""
    seen: list[str] = []

    def count(_st: Any, result: str) -> None:
        seen.append(result)

    for module in ("core.auth.login", "core.auth.redirect_login", "core.twofactor.service"):
        monkeypatch.setattr(f"{module}.count_login", count)
    return seen


def _app(factory: Any, plugin: FakeSso, spy: LoginSpy) -> Any:
    return factory(["auth_local", "fake_sso", "spy"], extra={"fake_sso": plugin, "spy": spy},
                   overrides={"server": {"base_url": "https://help.example.com"}})


def _csrf(client: Any, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _sso(client: Any) -> Any:
    start = client.post("/login/sso/fake", data={"csrf_token": _csrf(client, "/login")})
    state = parse_qs(urlsplit(leave_url(start)).query)["state"][0]
    return client.get(f"/login/sso/fake/callback?state={state}&code=c")


def _enrol(app: Any, user_id: int) -> str:
    st = app.extensions["plugdesk"]
    secret = totp.begin(st, user_id, "someone")["secret"]
    assert totp.confirm(st, user_id, pyotp.TOTP(secret).now())
    return secret


def _next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30)  # the current one was spent confirming the enrolment


def _uid(client: Any) -> int | None:
    with client.session_transaction() as session:
        return session.get("uid")


def _last_login(app: Any, user_id: int) -> Any:
    with app.extensions["plugdesk"].db.session() as s:
        return s.scalar(select(User.last_login_at).where(User.id == user_id))


def test_sso_login_counts_only_after_the_second_factor(plugdesk_app_factory, counted) -> None:
    spy = LoginSpy()
    app = _app(plugdesk_app_factory, FakeSso(), spy)
    first = app.test_client()
    assert _sso(first).status_code == 302 and counted == ["ok"]  # no second factor yet: counted at once
    frank = _uid(first)
    assert frank is not None and spy.logins == [frank]
    secret = _enrol(app, frank)
    with app.extensions["plugdesk"].db.session() as s:
        s.execute(update(User).where(User.id == frank).values(last_login_at=None))
    counted.clear()
    spy.logins.clear()

    person = app.test_client()
    answer = _sso(person)
    assert answer.headers["Location"] == "/login/two-factor" and _uid(person) is None
    assert counted == [] and spy.logins == [] and _last_login(app, frank) is None  # nothing before the factor
    token = _csrf(person, "/login/two-factor")
    wrong = f"{(int(_next_code(secret)) + 1) % 1_000_000:06d}"
    assert person.post("/login/two-factor", data={"csrf_token": token, "code": wrong}).status_code == 400
    assert counted == ["failed"] and spy.logins == []
    done = person.post("/login/two-factor", data={"csrf_token": token, "code": _next_code(secret)})
    assert done.status_code == 302 and _uid(person) == frank
    assert counted == ["failed", "ok"] and spy.logins == [frank] and _last_login(app, frank) is not None


def test_password_login_with_a_second_factor_counts_once_after_it(plugdesk_app_factory, counted) -> None:
    spy = LoginSpy()
    app = _app(plugdesk_app_factory, FakeSso(), spy)
    kim = create_user(app, username="kim")
    secret = _enrol(app, kim.id)
    client = app.test_client()
    answer = client.post("/login", data={"csrf_token": _csrf(client, "/login"), "username": "kim",
                                         "password": TEST_PASSWORD})
    assert answer.headers["Location"] == "/login/two-factor" and counted == [] and spy.logins == []
    client.post("/login/two-factor", data={"csrf_token": _csrf(client, "/login/two-factor"),
                                           "code": _next_code(secret)})
    assert _uid(client) == kim.id and counted == ["ok"] and spy.logins == [kim.id]


def test_linking_an_account_with_a_second_factor_waits_for_it(plugdesk_app_factory, counted) -> None:
    plugin = FakeSso(link="password")
    plugin.complete_result = AuthResult.ok(Identity("fake", "lee-at-idp", external_id="sub-9",
                                                    email="lee@example.com", email_verified=True))
    spy = LoginSpy()
    app = _app(plugdesk_app_factory, plugin, spy)
    st = app.extensions["plugdesk"]
    lee = create_user(app, username="lee")
    secret = _enrol(app, lee.id)
    person = app.test_client()
    assert _sso(person).headers["Location"] == "/login/sso/link"
    proven = person.post("/login/sso/link", data={"csrf_token": _csrf(person, "/login/sso/link"),
                                                  "password": TEST_PASSWORD})
    assert proven.headers["Location"] == "/login/two-factor" and _uid(person) is None
    assert linked_user_id(st.db, "fake", "sub-9") is None  # the password alone links nothing
    assert counted == [] and spy.logins == []
    done = person.post("/login/two-factor", data={"csrf_token": _csrf(person, "/login/two-factor"),
                                                  "code": _next_code(secret)})
    assert done.status_code == 302 and _uid(person) == lee.id
    assert linked_user_id(st.db, "fake", "sub-9") == lee.id and counted == ["ok"] and spy.logins == [lee.id]
    with st.db.session() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "auth.sso_link")) == "auth.sso_link"
    with person.session_transaction() as session:
        assert session["sso"] == "fake"


def test_linking_an_account_without_a_second_factor_is_immediate(plugdesk_app_factory, counted) -> None:
    plugin = FakeSso(link="password")
    plugin.complete_result = AuthResult.ok(Identity("fake", "max-at-idp", external_id="sub-7",
                                                    email="max@example.com", email_verified=True))
    spy = LoginSpy()
    app = _app(plugdesk_app_factory, plugin, spy)
    mx = create_user(app, username="max")
    person = app.test_client()
    assert _sso(person).headers["Location"] == "/login/sso/link"
    person.post("/login/sso/link", data={"csrf_token": _csrf(person, "/login/sso/link"), "password": TEST_PASSWORD})
    assert _uid(person) == mx.id and linked_user_id(app.extensions["plugdesk"].db, "fake", "sub-7") == mx.id
    assert counted == ["ok"] and spy.logins == [mx.id]
