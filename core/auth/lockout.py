"""Brute-force protection (``security.brute_force.*``): per-account failure counters and lockouts.

Counters live in ``[limits] storage`` (in-process or Redis), so every node sees the same counts. Keys are
the normalised username, so ``Admin`` and ``ＡＤＭＩＮ`` share one counter. Rules:

* ``max_failures`` failures within ``window_seconds`` lock the account for ``lockout_seconds``;
* failures while locked are not counted and do not extend the lock;
* each further lockout within 24 h doubles the duration (capped at 24 h);
* whatever the settings, one account takes at most ``HOURLY_CAP`` failed guesses per hour;
* a successful login resets the failure count; a completed password reset clears the lock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.limits import CounterStore

log = logging.getLogger("plugdesk.auth.lockout")
DAY = 86400
HOUR = 3600
HOURLY_CAP = 100


def _key(username_key: str) -> str:
    # hashed: keeps user names out of Redis key listings and bounds key length
    return hashlib.sha256(username_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class LockState:
    """Whether an account is locked and until when (epoch seconds)."""

    locked: bool
    until: float = 0.0
    failures: int = 0
    new: bool = False  # this failure locked the account


class Lockout:
    """Failure counting and lockouts on a :class:`CounterStore`."""

    def __init__(self, store: CounterStore, setting: Callable[[str], Any], clock: Callable[[], float] = time.time):
        self.store = store
        self.setting = setting
        self.clock = clock

    def enabled(self) -> bool:
        """``security.brute_force.enabled``."""
        return bool(self.setting("security.brute_force.enabled"))

    def state(self, username_key: str) -> LockState:
        """The current lock state of an account (one round trip to the store)."""
        k = _key(username_key)
        lock, fail, hour = self.store.read_many([f"bf:lock:{k}", f"bf:fail:{k}", f"bf:hour:{k}"])
        until, failures, now = float(lock or 0), int(fail or 0), self.clock()
        if until > now:
            return LockState(True, until, failures)
        if int(hour or 0) >= HOURLY_CAP:
            return LockState(True, now + HOUR, failures)
        return LockState(False, 0.0, failures)

    def is_locked(self, username_key: str) -> bool:
        """Tell whether logins for this account are refused right now."""
        return self.enabled() and self.state(username_key).locked

    def record_failure(self, username_key: str, current: LockState | None = None) -> LockState:
        """Count one failed login (atomically); lock the account when the threshold is reached.

        :param current: the state read earlier in the same login, to save a round trip.
        """
        if not self.enabled():
            return LockState(False)
        k = _key(username_key)
        current = current or self.state(username_key)
        if current.locked:
            return current
        window = int(self.setting("security.brute_force.window_seconds"))
        limit = int(self.setting("security.brute_force.max_failures"))
        _hour, failures = self.store.hit_many([(f"bf:hour:{k}", HOUR), (f"bf:fail:{k}", window)])
        if failures < limit:
            return LockState(False, 0.0, failures)
        # Only the request that crossed the threshold sets the lock (claim is atomic), so parallel
        # failures cannot stack lockouts.
        if not self.store.claim(f"bf:locking:{k}", max(window, 1)):
            return self.state(username_key)
        repeats = self.store.hit(f"bf:repeats:{k}", DAY)
        base = int(self.setting("security.brute_force.lockout_seconds"))
        duration = min(base * 2 ** (repeats - 1), DAY)
        until = self.clock() + duration
        self.store.write(f"bf:lock:{k}", f"{until:.3f}", int(duration) + 1)
        self.store.delete(f"bf:fail:{k}", f"bf:locking:{k}")
        log.warning("account %s locked for %d s after %d failures (lockout #%d in 24 h)",
                    username_key, duration, failures, repeats)
        return LockState(True, until, failures, new=True)

    def record_success(self, username_key: str) -> None:
        """A successful login resets the failure count."""
        self.store.delete(f"bf:fail:{_key(username_key)}")

    def clear(self, username_key: str) -> None:
        """Lift a lock and forget failures (admin action, completed password reset)."""
        k = _key(username_key)
        self.store.delete(f"bf:lock:{k}", f"bf:fail:{k}", f"bf:hour:{k}", f"bf:locking:{k}")
