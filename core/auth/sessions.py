"""Web sessions (signed cookies) and API bearer tokens.

Both carry the user's ``session_version``; bumping it (logout, password change, reset) invalidates every
session and token of that user on every node at once, with no server-side session store.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import g, session
from sqlalchemy import delete, select

from core.db import Database
from core.models import ApiToken, User, utcnow

TOKEN_LIFETIME = timedelta(days=30)
ROLE_RANK = {"user": 0, "agent": 1, "manager": 2, "admin": 3}


def has_role(user: User | None, role: str) -> bool:
    """Tell whether ``user`` has ``role`` or a higher one."""
    return user is not None and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh cookie content (rotated), bound to the current session version."""
    session.clear()
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["nonce"] = secrets.token_urlsafe(16)
    session.permanent = True
    g.pop("plugdesk_user", None)


def session_user(db: Database) -> User | None:
    """The logged-in user of this request (cached), or ``None`` if the session is stale or absent."""
    if "plugdesk_user" in g:
        return g.plugdesk_user
    user = None
    uid, version = session.get("uid"), session.get("sv")
    if isinstance(uid, int) and isinstance(version, int):
        with db.session() as s:
            found = s.get(User, uid)
            if found is not None and found.is_active and found.session_version == version:
                user = found
        if user is None:
            session.clear()
    g.plugdesk_user = user
    return user


def end_all_sessions(db: Database, user_id: int) -> None:
    """Invalidate every session and token of a user (logout everywhere, password change)."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is not None:
            user.session_version += 1
        s.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(db: Database, user: User) -> str:
    """Create a bearer token (256 bits); only its hash is stored."""
    raw = secrets.token_urlsafe(32)
    with db.session() as s:
        s.add(ApiToken(user_id=user.id, token_hash=_hash(raw), session_version=user.session_version,
                       created_at=utcnow(), expires_at=utcnow() + TOKEN_LIFETIME))
    return raw


def token_user(db: Database, raw: str) -> User | None:
    """The user a bearer token belongs to, if the token is known, unexpired and still current."""
    if not raw or len(raw) > 200:
        return None
    with db.session() as s:
        row = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                        .where(ApiToken.token_hash == _hash(raw))).first()
        if row is None:
            return None
        token, user = row
        if token.expires_at < utcnow() or token.session_version != user.session_version or not user.is_active:
            return None
        return user
