"""The password hasher every password-keeping plugin should use (argon2id, OWASP parameters).

OWASP's argon2id minimum (19 MiB, 2 iterations, 1 lane) costs a few tens of milliseconds on a small server,
which keeps logins fast and guessing slow. Core uses the same parameters for its dummy verifications, so a
locked or unknown account takes about as long as a wrong password.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@functools.cache
def password_hasher() -> PasswordHasher:
    """The shared argon2id hasher."""
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


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
