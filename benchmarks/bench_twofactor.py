"""Figure ``login_totp``: a full login with password + authenticator-app code against a password-only login.

Both go through :func:`core.auth.login.authenticate` (lockout check, auth chain, argon2id); the two-factor one
then runs :func:`core.twofactor.service.second_step` (lockout check, TOTP check with its single-use claim in
the counter store, login bookkeeping). The argon2 verification dominates, so the goal is at most 5 % more.
Each timed two-factor login uses a fresh code step (the replay marker is removed between calls, untimed).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyotp

from benchmarks.common import figure
from core.auth.login import authenticate
from core.testing import TEST_PASSWORD, create_user, make_test_app
from core.twofactor import recovery, service, totp
from core.types import RequestInfo


def figures(quick: bool) -> list[dict[str, Any]]:
    """Alternate both logins call by call; report medians."""
    rounds = 30 if quick else 210
    app = make_test_app(Path(tempfile.mkdtemp(prefix="plugdesk-bench-2fa-")), ["auth_local"])
    state = app.extensions["plugdesk"]
    create_user(app, username="plain")
    user = create_user(app, username="twofa")
    secret = totp.begin(state, user.id, "twofa")["secret"]
    assert totp.confirm(state, user.id, pyotp.TOTP(secret).now())
    recovery.new_codes(state.db, user.id)
    request = RequestInfo()

    def clear_replay_markers() -> None:
        step = int(totp.now() // totp.STEP)
        state.lockout.store.delete(*(f"totp:used:{user.id}:{s}" for s in range(step - 2, step + 3)))

    def password_login() -> None:
        assert authenticate(state, "plain", TEST_PASSWORD, request).user is not None

    def totp_login() -> None:
        outcome = authenticate(state, "twofa", TEST_PASSWORD, request)
        assert outcome.second_factor and outcome.user is not None
        done = service.second_step(state, outcome.user, request, code=pyotp.TOTP(secret).now())
        assert done.user is not None

    plain_t, totp_t = [], []
    with app.app_context():
        clear_replay_markers()
        password_login()
        totp_login()
        for _ in range(rounds):
            clear_replay_markers()
            t0 = time.perf_counter()
            totp_login()
            totp_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            password_login()
            plain_t.append(time.perf_counter() - t0)
    with_code, without = statistics.median(totp_t), statistics.median(plain_t)
    return [figure("login_totp", with_code * 1000, without * 1000, ">= 0.95", "ms/login",
                   "password + TOTP login (authenticate + second_step) vs password-only login; ratio = password "
                   "login time / TOTP login time (0.95 = the second factor costs 5 % more)",
                   ratio=without / with_code)]
