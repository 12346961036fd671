"""Single-use emailed tokens (password reset, email verification): 256 bits, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core.db import Database, rowcount
from core.models import OneTimeToken, utcnow


class TokenError(ValueError):
    """The token is unknown, used, expired, superseded or for another purpose (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def issue(db: Database, user_id: int, purpose: str, lifetime: timedelta, data: Any = None) -> str:
    """Create a token for ``user_id``; every older unused token of the same purpose stops working."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    with db.session() as s:
        s.execute(update(OneTimeToken).where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose,
                                             OneTimeToken.used_at.is_(None)).values(used_at=now))
        s.add(OneTimeToken(purpose=purpose, user_id=user_id, token_hash=_hash(raw), data=data, created_at=now,
                           expires_at=now + lifetime))
    return raw


def peek(db: Database, raw: str, purpose: str) -> OneTimeToken:
    """Return the valid token row without using it; raise :class:`TokenError`."""
    if not raw or len(raw) > 200:
        raise TokenError("malformed")
    with db.session() as s:
        token = s.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == _hash(raw)))
        if token is None or token.purpose != purpose:
            raise TokenError("unknown")
        if token.used_at is not None:
            raise TokenError("already used or superseded")
        if token.expires_at <= utcnow():
            raise TokenError("expired")
        s.expunge(token)
        return token


def consume(db: Database, raw: str, purpose: str) -> OneTimeToken:
    """Mark a valid token used (atomically: two concurrent uses cannot both succeed)."""
    token = peek(db, raw, purpose)
    with db.session() as s:
        done = s.execute(update(OneTimeToken).where(OneTimeToken.id == token.id, OneTimeToken.used_at.is_(None))
                         .values(used_at=utcnow()))
        if rowcount(done) != 1:
            raise TokenError("already used or superseded")
    return token


def revoke(db: Database, user_id: int, purpose: str) -> int:
    """Make every unused token of ``purpose`` for ``user_id`` stop working; return how many there were."""
    with db.session() as s:
        done = s.execute(update(OneTimeToken).where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose,
                                                    OneTimeToken.used_at.is_(None)).values(used_at=utcnow()))
        return rowcount(done)
