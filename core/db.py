"""Database engine and sessions (SQLAlchemy 2). SQLite runs in WAL mode; PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Table, TypeDecorator, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.db_reads import Listener, Reader, reader
from core.read_connections import close_for


class Base(DeclarativeBase):
    """Declarative base of every model (core's and, later, plugins')."""


#: The session of the core transaction the current code runs in (see :func:`joining`).
_joined: ContextVar[Session | None] = ContextVar("plugdesk_joined_session", default=None)


@contextmanager
def joining(session: Session) -> Iterator[None]:
    """Inside this block, writes through :meth:`Database.joined` (``ctx.users.create``, ``ctx.credentials``,
    ``ctx.mail``) go into ``session``'s transaction: they commit, or roll back, with the event that caused them."""
    token = _joined.set(session)
    try:
        yield
    finally:
        _joined.reset(token)


def joined_session(engine: Engine) -> Session | None:
    """The session of the surrounding :func:`joining` block when it is bound to ``engine``, else ``None``."""
    session = _joined.get()
    return session if session is not None and session.get_bind() is engine else None


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """An engine plus a session factory, owned by one app."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        #: Called with the SQL of every statement a :meth:`reader` runs (statement counting in tests).
        self.read_listeners: list[Listener] = []

    def reader(self) -> AbstractContextManager[Reader]:
        """A :class:`~core.db_reads.Reader` for precompiled reads (:class:`~core.db_reads.Read`) on one pooled
        connection: the lean path of the pages everyone sees (no ORM session, no per-call statement work)."""
        return reader(self.engine, self.read_listeners)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on any error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def joined(self) -> Iterator[Session]:
        """The session of the surrounding core transaction (:func:`joining`), or a new one committed on success.

        Use it for writes that belong to the event being handled (e.g. in ``auth_set_password`` during a
        registration): on SQLite a second transaction would wait for the first one's lock.
        """
        current = joined_session(self.engine)
        if current is not None:
            yield current
            return
        with self.session() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection, and the threads' read connections (:mod:`core.read_connections`)."""
        close_for(self.engine)
        self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """Rows an ``UPDATE``/``DELETE`` matched (``Session.execute`` is typed as returning a plain ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


def table_of(model: type[Base]) -> Table:
    """The :class:`~sqlalchemy.Table` of a mapped class (for Core statements such as ``INSERT ... SELECT``)."""
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model here maps one table
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
