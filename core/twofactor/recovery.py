"""Recovery codes: ten single-use codes for when the phone or the key is lost.

Each code carries 80 random bits (16 base32 characters, shown as ``abcd-efgh-ijkl-mnop``), so a SHA-256 of
it is enough to store (no salt or slow hash needed: the codes cannot be guessed from a list). Using one
marks it used atomically, so two logins cannot share it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from sqlalchemy import delete, func, select, update

from core.db import Database, rowcount
from core.models import utcnow
from core.twofactor.models import RecoveryCode

COUNT = 10


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "")[:64].lower() if ch.isascii() and ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode("ascii")).hexdigest()


def looks_like_code(code: str | None) -> bool:
    """Whether ``code`` has the shape of a recovery code (16 base32 characters once dashes are removed)."""
    normal = _normalise(code or "")
    return len(normal) == 16 and all(ch in "abcdefghijklmnopqrstuvwxyz234567" for ch in normal)


def new_codes(db: Database, user_id: int) -> list[str]:
    """Replace the user's codes by ``COUNT`` new ones; return them (the only time they are shown)."""
    codes = []
    for _ in range(COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    now = utcnow()
    with db.session() as s:
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        s.add_all(RecoveryCode(user_id=user_id, code_hash=_hash(c), created_at=now) for c in codes)
    return codes


def use(db: Database, user_id: int, code: str) -> bool:
    """Spend one code; ``False`` when it is not one of the user's unused codes."""
    if not looks_like_code(code):
        return False
    with db.session() as s:
        done = s.execute(update(RecoveryCode).where(RecoveryCode.user_id == user_id,
                                                    RecoveryCode.code_hash == _hash(code),
                                                    RecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
        return rowcount(done) == 1


def remaining(db: Database, user_id: int) -> int:
    """How many unused codes the user has left."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def remove_all(db: Database, user_id: int) -> None:
    """Delete every code of the user (second factor turned off or reset)."""
    with db.session() as s:
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
