"""Single sign-on and plugdesk's own second factor: an account with one is asked for it after the provider,
unless the provider vouches for a second factor itself (``amr``) and ``trust_provider_mfa`` is on."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from core.twofactor import totp

pytestmark = pytest.mark.slow


def _enrol(app: Any, user_id: int) -> str:
    """Give the account an authenticator app; its secret."""
    st = app.extensions["plugdesk"]
    secret = totp.begin(st, user_id, "sso-user")["secret"]
    assert totp.confirm(st, user_id, pyotp.TOTP(secret).now())
    return secret


def _session(person: Any) -> dict[str, Any]:
    with person.client.session_transaction() as session:
        return dict(session)


def test_own_second_factor_is_asked_after_the_provider(oidc_app, browser) -> None:
    app = oidc_app(trust_provider_mfa=True)  # alice's provider login was a password only (amr ["pwd"])
    # (the code below is the next step's: the current one was spent confirming the enrolment)
    first = browser(app)
    first.login("alice", "alice-idp-pw")
    secret = _enrol(app, first.user_id())
    person = browser(app)
    answer = person.login("alice", "alice-idp-pw")
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/two-factor"
    assert person.user_id() is None  # no session before the second factor
    done = person.client.post("/login/two-factor", data={"csrf_token": person.csrf_from("/login/two-factor"),
                                                          "code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert done.status_code == 302 and person.user_id() == first.user_id() and _session(person)["mfa"] is True
    assert _session(person)["sso"] == "testidp"  # so "Log out" still signs out at the provider


@pytest.mark.parametrize("trusted", [True, False])
def test_provider_mfa_counts_only_when_trusted(oidc_app, browser, trusted) -> None:
    app = oidc_app(trust_provider_mfa=trusted)  # erin signs in at the provider with a one-time code
    first = browser(app)
    first.login("erin", "erin-idp-pw")
    _enrol(app, first.user_id())
    person = browser(app)
    answer = person.login("erin", "erin-idp-pw")
    if trusted:
        assert answer.status_code == 302 and answer.headers["Location"] == "/"
        assert person.user_id() == first.user_id() and _session(person)["mfa"] is True
    else:
        assert answer.headers["Location"] == "/login/two-factor" and person.user_id() is None
