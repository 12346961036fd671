"""Figures `login` (full login through the auth chain + lockout vs one argon2 verify) and `hook`
(one pluggy hook dispatch through core vs a plain Python call)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import figure
from core.auth.hashing import password_hasher
from core.auth.login import authenticate
from core.testing import TEST_PASSWORD, create_user, make_test_app
from core.types import RequestInfo


def _timed(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def figures(quick: bool) -> list[dict[str, Any]]:
    """Alternate the plugdesk path and its baseline; report medians."""
    rounds, n = (3, 10) if quick else (7, 30)
    app = make_test_app(Path(tempfile.mkdtemp(prefix="plugdesk-bench-login-")), ["auth_local"])
    state = app.extensions["plugdesk"]
    create_user(app, username="bench")
    hasher = password_hasher()
    stored = hasher.hash(TEST_PASSWORD)
    request = RequestInfo()
    with app.app_context():
        login = lambda: authenticate(state, "bench", TEST_PASSWORD, request)  # noqa: E731
        verify = lambda: hasher.verify(stored, TEST_PASSWORD)  # noqa: E731
        login()
        logins, verifies = [], []
        for _ in range(rounds * n):  # alternate call by call so both see the same machine load
            logins.append(_timed(login, 1))
            verifies.append(_timed(verify, 1))
        hook_caller = state.host.pm.hook.auth_providers
        plain = state.host.pm.hook.auth_providers.get_hookimpls()[0].function
        hooks, calls = [], []
        for _ in range(rounds):
            hooks.append(_timed(lambda: hook_caller(ctx=state.ctx), 20000))
            calls.append(_timed(lambda: plain(), 20000))
    login_t, verify_t = statistics.median(logins), statistics.median(verifies)
    hook_t, call_t = statistics.median(hooks), statistics.median(calls)
    return [
        figure("login", login_t * 1000, verify_t * 1000, ">= 0.95", "ms/login",
               "core.auth.login.authenticate (lockout check, chain, argon2id, JIT/touch, event) vs one argon2id "
               "verify; ratio = verify time / login time", ratio=verify_t / login_t),
        figure("hook", hook_t * 1e6, call_t * 1e6, "report", "us/call",
               "pm.hook.auth_providers(ctx) (one implementation) vs calling that function directly; "
               "ratio = plain / hook", ratio=call_t / hook_t),
    ]
