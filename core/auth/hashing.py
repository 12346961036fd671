"""The password hasher every password-keeping plugin should use (argon2id, OWASP parameters).

OWASP's argon2id minimum (19 MiB, 2 iterations, 1 lane) costs a few tens of milliseconds on a small server,
which keeps logins fast and guessing slow. Core uses the same parameters for its dummy verifications, so a
locked or unknown account takes about as long as a wrong password.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: OWASP's argon2id minimum: 19 MiB of memory, 2 iterations, 1 lane.
PARAMETERS: dict[str, int] = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
#: For test runs only (plugdesk's pytest plugin switches to them, see :func:`use_test_parameters`): the same
#: argon2id code path with the cheapest parameters, so a test suite that creates hundreds of accounts does not
#: spend minutes hashing. Hashes carry their parameters, so either kind verifies under the other.
TEST_PARAMETERS: dict[str, int] = {"time_cost": 1, "memory_cost": 256, "parallelism": 1}
_active: dict[str, int] = dict(PARAMETERS)


@functools.cache
def password_hasher() -> PasswordHasher:
    """The shared argon2id hasher."""
    return PasswordHasher(time_cost=_active["time_cost"], memory_cost=_active["memory_cost"],
                          parallelism=_active["parallelism"])


def use_test_parameters(enabled: bool = True) -> None:
    """Hash with :data:`TEST_PARAMETERS` from now on in this process (``enabled=False``: back to OWASP's).

    Called by plugdesk's pytest plugin (:mod:`core.testing`) at the start of a test run; never by a server.
    """
    _active.clear()
    _active.update(TEST_PARAMETERS if enabled else PARAMETERS)
    password_hasher.cache_clear()
    _dummy.cache_clear()


@functools.cache
def _dummy() -> str:
    return password_hasher().hash("plugdesk-dummy-password")


def verify(stored: str, password: str) -> bool:
    """Check ``password`` against an argon2 hash; any malformed hash is simply a mismatch."""
    try:
        return password_hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def equal_work(password: str) -> None:
    """Spend one verification on a dummy hash (for unknown or locked accounts)."""
    verify(_dummy(), password)
