"""Server-side records of web sessions and API tokens, for each user's Sessions page.

The signed session cookie carries a random session id (``sid``); its SHA-256 names a :class:`UserSession`
row with when and from where the session started and was last seen. Ending one session marks its row ended;
the cookie is then refused on every node. Ending all bumps the user's ``session_version`` as before (which
also ends cookies from before these records existed). ``last_seen_at`` / ``last_used_at`` are written at most
once a minute per session or token, so reading pages does not turn into a write per request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, bindparam, delete, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.base import instance_state

from core.db import Base, Database, UTCDateTime, rowcount
from core.db_reads import Read
from core.models import ApiToken, User, utcnow

TOUCH_EVERY = timedelta(seconds=60)
SESSION_LIFETIME = timedelta(days=14)  # the app's PERMANENT_SESSION_LIFETIME
KEEP_ENDED = timedelta(days=30)


class UserSession(Base):
    """One web session: created, last seen, address and browser; ``ended_at`` once logged out or ended."""

    __tablename__ = "user_sessions"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are in forms and URLs: never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@dataclass(frozen=True)
class SessionRow:
    """What the Sessions page and ``GET /api/v1/me/sessions`` show for one session or token."""

    kind: str  # "web" or "token"
    id: int
    created_at: datetime
    last_used_at: datetime | None
    ip: str
    user_agent: str
    current: bool = False
    second_factor: bool = False

    def as_json(self) -> dict[str, Any]:
        """The API shape (timestamps in ISO 8601 UTC)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {"kind": self.kind, "id": self.id, "created_at": iso(self.created_at),
                "last_used_at": iso(self.last_used_at), "ip": self.ip, "user_agent": self.user_agent,
                "current": self.current, "second_factor": self.second_factor}


def sid_hash(sid: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def record_session(db: Database, user: User, sid: str, ip: str, user_agent: str, second_factor: bool) -> None:
    """Store a new session's record; forget this user's records ended or idle for a month."""
    now = utcnow()
    with db.session() as s:
        s.execute(delete(UserSession).where(UserSession.user_id == user.id, or_(
            UserSession.ended_at < now - KEEP_ENDED, UserSession.last_seen_at < now - KEEP_ENDED)))
        s.add(UserSession(user_id=user.id, sid_hash=sid_hash(sid), session_version=user.session_version,
                          created_at=now, last_seen_at=now, ip=ip[:64], user_agent=user_agent[:300],
                          second_factor=second_factor))


def session_alive(db: Database, user: User, sid: str) -> bool:
    """Whether the session ``sid`` of ``user`` has not been ended; refreshes ``last_seen_at`` (once a minute)."""
    now = utcnow()
    with db.session() as s:
        row = s.execute(select(UserSession.id, UserSession.ended_at, UserSession.last_seen_at)
                        .where(UserSession.sid_hash == sid_hash(sid), UserSession.user_id == user.id)).first()
        if row is None or row.ended_at is not None:
            return False
        if row.last_seen_at < now - TOUCH_EVERY:
            s.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
    return True


_USER_KEYS = tuple(column.key for column in User.__table__.columns)
_LIVE = (User.id == bindparam("uid"), User.is_active.is_(True), User.session_version == bindparam("sv"))
_LIVE_USER = Read(select(*User.__table__.columns).where(*_LIVE))
_LIVE_SESSION_USER = Read(
    select(*User.__table__.columns, UserSession.id.label("session_id"), UserSession.ended_at.label("session_ended_at"),
           UserSession.last_seen_at.label("session_seen_at"))
    .join(UserSession, (UserSession.user_id == User.id) & (UserSession.sid_hash == bindparam("sid_hash")))
    .where(*_LIVE))


_USER_MAPPER = sa_inspect(User)


def _detached_user(row: Any) -> User:
    """A detached :class:`User` from a row of its columns, as a closed session would have left it (so
    ``session.add(user)`` updates it, never inserts it). Built the way the ORM's own loader builds an instance
    (values straight into the instance dict, then the identity key) rather than through the constructor,
    whose per-attribute events cost more than the read itself on every page a user sees."""
    user: User = _USER_MAPPER.class_manager.new_instance()
    user.__dict__.update(zip(_USER_KEYS, row, strict=False))  # the user's columns come first, in this order
    instance_state(user).key = _USER_MAPPER.identity_key_from_primary_key((row.id,))
    return user


def live_session_user(db: Database, uid: int, version: int, sid: str | None) -> User | None:
    """The active user ``uid`` whose ``session_version`` is ``version`` and, when ``sid`` is given, whose
    session ``sid`` has not ended (``last_seen_at`` refreshed once a minute): what :func:`session_alive`
    checks, read together with the user in one precompiled query (it runs on every page a user sees)."""
    with db.reader() as r:
        if sid is None:
            row = r.first(_LIVE_USER, uid=uid, sv=version)
            return None if row is None else _detached_user(row)
        row = r.first(_LIVE_SESSION_USER, uid=uid, sv=version, sid_hash=sid_hash(sid))
    if row is None or row.session_ended_at is not None:
        return None
    now = utcnow()
    if row.session_seen_at < now - TOUCH_EVERY:
        with db.session() as s:
            s.execute(update(UserSession).where(UserSession.id == row.session_id).values(last_seen_at=now))
    return _detached_user(row)


def touch_token(db: Database, token: ApiToken) -> None:
    """Refresh a token's ``last_used_at`` (at most once a minute)."""
    now = utcnow()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        with db.session() as s:
            s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))


def list_sessions(db: Database, user_id: int, current_sid: str | None = None) -> list[SessionRow]:
    """The user's active web sessions and API tokens, most recently used first."""
    now = utcnow()
    current = sid_hash(current_sid) if current_sid else None
    with db.session() as s:
        version = s.scalar(select(User.session_version).where(User.id == user_id))
        sessions = s.scalars(select(UserSession).where(
            UserSession.user_id == user_id, UserSession.ended_at.is_(None), UserSession.session_version == version,
            UserSession.last_seen_at > now - SESSION_LIFETIME)).all()
        tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.session_version == version,
                                                  ApiToken.expires_at > now)).all()
        rows = [SessionRow("web", r.id, r.created_at, r.last_seen_at, r.ip, r.user_agent, r.sid_hash == current,
                           r.second_factor) for r in sessions]
        rows += [SessionRow("token", t.id, t.created_at, t.last_used_at, t.ip, t.user_agent) for t in tokens]
    return sorted(rows, key=lambda r: r.last_used_at or r.created_at, reverse=True)


def end_one(db: Database, user_id: int, kind: str, row_id: int) -> bool:
    """End one web session or delete one API token of ``user_id``; ``False`` if there is no such row."""
    with db.session() as s:
        if kind == "web":
            done = s.execute(update(UserSession).where(UserSession.id == row_id, UserSession.user_id == user_id,
                                                       UserSession.ended_at.is_(None)).values(ended_at=utcnow()))
        elif kind == "token":
            done = s.execute(delete(ApiToken).where(ApiToken.id == row_id, ApiToken.user_id == user_id))
        else:
            return False
        return bool(rowcount(done))


def end_session_records(db: Database, user_id: int, *, keep_sid: str | None = None) -> None:
    """Mark every web session record of ``user_id`` ended (except ``keep_sid``)."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep_sid:
        stmt = stmt.where(UserSession.sid_hash != sid_hash(keep_sid))
    with db.session() as s:
        s.execute(stmt.values(ended_at=utcnow()))


def end_by_sid(db: Database, sid: str) -> None:
    """End the session ``sid`` (logout of this browser only)."""
    with db.session() as s:
        s.execute(update(UserSession).where(UserSession.sid_hash == sid_hash(sid), UserSession.ended_at.is_(None))
                  .values(ended_at=utcnow()))
