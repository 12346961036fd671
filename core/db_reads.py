"""Read statements compiled once per dialect and run straight on the DBAPI connection: the hot pages' lean path.

Measured on the article page's query (one row, two tables, SQLite): a new ORM ``select`` per call 600 µs,
the same statement built once 380 µs, Core on an open connection 66 µs, this path 14 µs. The statement stays a
SQLAlchemy expression (so the SQL is the dialect's, SQLite or PostgreSQL); only the per-call machinery is
skipped: no statement construction, cache-key walk, ORM entity loading or session transaction.

Usage::

    ARTICLE = Read(select(KbArticle.id, KbArticle.title).where(KbArticle.id == bindparam("id")))

    with st.db.reader() as r:
        row = r.first(ARTICLE, id=5)        # a named tuple: row.id, row.title (or None)

Results go through the column types' result processors (``UTCDateTime`` comes back timezone-aware), bound
values through their bind processors. Statements with expanding ``IN`` parameters are refused (their SQL
depends on the values): use one of the ORM paths for those. Writes never go through here.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql.selectable import SelectBase

from core.read_connections import ThreadConnections, for_engine

#: Callbacks given the SQL of every statement a :class:`Reader` runs (tests count statements with it, as they
#: count the ORM's with the engine's ``before_cursor_execute`` event, which this path does not fire).
Listener = Callable[[str], None]


#: Values kept per processor of a date or time column (see :func:`_memoised_if_immutable`).
MEMO_ENTRIES = 4096


def _memoised_if_immutable(column_type: Any, processor: Any) -> Any:
    """``processor`` remembering its results when they are immutable (dates and times): on SQLite each
    timestamp is parsed from text (a regex and a ``datetime``, then the UTC zone), ~3 µs a value, and the
    rows a page lists come back request after request with the same values."""
    if processor is None:
        return None
    try:
        immutable = column_type.python_type in (datetime, date, time)
    except NotImplementedError:
        immutable = False
    if not immutable:
        return processor
    seen: dict[Any, Any] = {}

    def remembered(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            pass
        except TypeError:  # an unhashable driver value: nothing to remember it by
            return processor(value)
        result = processor(value)
        if len(seen) >= MEMO_ENTRIES:
            seen.clear()
        seen[value] = result
        return result

    return remembered


class _Plan:
    """One statement compiled for one dialect: SQL text, how to order the parameters, the row processors."""

    __slots__ = ("sql", "names", "positional", "defaults", "binders", "row", "processors")

    def __init__(self, read: Read, engine: Engine) -> None:
        dialect = engine.dialect
        compiled = read.statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("expanding IN parameters are not supported by Read: their SQL depends on the values")
        self.sql = str(compiled)
        self.positional = compiled.positiontup is not None
        self.names: list[str] = list(compiled.positiontup or compiled.binds)
        self.defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        self.binders = {name: proc for name, bind in compiled.binds.items()
                        if (proc := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        self.row = read.row
        self.processors: list[Any] = [_memoised_if_immutable(col.type, col.type.dialect_impl(dialect)
                                                             .result_processor(dialect, None))
                                      for col in read.statement.selected_columns]
        if not any(self.processors):
            self.processors = []

    def parameters(self, given: dict[str, Any]) -> Any:
        """The DBAPI parameters: a tuple for positional paramstyles, else a dict."""
        values = {**self.defaults, **given} if self.defaults else given
        missing = [name for name in self.names if name not in values]
        if missing:
            raise TypeError(f"missing query parameters: {', '.join(sorted(set(missing)))}")
        if self.binders:
            values = {name: (self.binders[name](value) if name in self.binders else value)
                      for name, value in values.items()}
        if self.positional:
            return tuple(values[name] for name in self.names)
        return values

    def make(self, raw: Any) -> Any:
        """One result row as a named tuple, through the result processors."""
        if self.processors:
            raw = [proc(value) if proc is not None else value for proc, value in zip(self.processors, raw, strict=True)]
        return self.row._make(raw)


class Read:
    """A ``SELECT`` built once (module level) whose compiled form is kept per database engine."""

    def __init__(self, statement: SelectBase) -> None:
        keys = [str(col.key or "") for col in statement.selected_columns]
        if len(set(keys)) != len(keys) or any(not k or not k.isidentifier() for k in keys):
            raise ValueError(f"Read needs distinct named columns (use .label()), got {keys}")
        self.statement = statement
        self.row: Any = namedtuple("Row", keys)  # type: ignore[misc]  # rows read like the ORM's: row.title
        self._plans: dict[tuple[type, str], _Plan] = {}

    def plan(self, engine: Engine) -> _Plan:
        """The statement compiled for ``engine``'s dialect (once per dialect and parameter style)."""
        key = (type(engine.dialect), engine.dialect.paramstyle)
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = _Plan(self, engine)
        return found


class Reader:
    """Runs :class:`Read` statements on one pooled DBAPI connection (see :meth:`core.db.Database.reader`)."""

    def __init__(self, connection: Any, engine: Engine, listeners: list[Listener]) -> None:
        self._connection = connection
        self._engine = engine
        self._listeners = listeners

    def _cursor(self, read: Read, params: dict[str, Any]) -> tuple[_Plan, Any]:
        plan = read.plan(self._engine)
        values = plan.parameters(params)
        for listener in self._listeners:
            listener(plan.sql)
        cursor = self._connection.cursor()
        cursor.execute(plan.sql, values)
        return plan, cursor

    def all(self, read: Read, **params: Any) -> list[Any]:
        """Every row, as named tuples."""
        plan, cursor = self._cursor(read, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if plan.processors:
            return [plan.make(raw) for raw in rows]
        return list(map(plan.row._make, rows))

    def first(self, read: Read, **params: Any) -> Any | None:
        """The first row as a named tuple, or ``None``."""
        plan, cursor = self._cursor(read, params)
        try:
            raw = cursor.fetchone()
        finally:
            cursor.close()
        return None if raw is None else plan.make(raw)

    def scalar(self, read: Read, **params: Any) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.first(read, **params)
        return None if row is None else row[0]


class _Scope:
    """The connection a :func:`read_scope` block's readers share (taken at the first read)."""

    __slots__ = ("connection", "engine", "threads")

    def __init__(self) -> None:
        self.connection: Any = None
        self.engine: Engine | None = None
        self.threads: ThreadConnections | None = None  # set when the connection is the thread's own (SQLite)


_scope: ContextVar[_Scope | None] = ContextVar("plugdesk_read_scope", default=None)


@contextmanager
def read_scope() -> Iterator[None]:
    """Within the block (one web request), every :func:`reader` on the same engine shares one connection,
    taken at the first read: on SQLite the thread's own (:mod:`core.read_connections`), elsewhere one
    checked out of the pool and returned at the end of the block (so a page's reads cost one pool checkout,
    and on PostgreSQL one pre-ping). The connection runs reads only (no lock is left held on SQLite; on
    PostgreSQL its read-only transaction is rolled back by the pool when it is returned); writes keep going
    through ORM sessions."""
    scope = _Scope()
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)
        if scope.connection is not None and scope.threads is None:
            scope.connection.close()


@contextmanager
def reader(engine: Engine, listeners: list[Listener]) -> Iterator[Reader]:
    """A :class:`Reader` on a connection checked out of ``engine``'s pool for the block (returned after it,
    rolled back by the pool: nothing a reader does can write), or on the :func:`read_scope`'s connection."""
    scope = _scope.get()
    if scope is not None and scope.engine in (None, engine):
        if scope.connection is None:
            threads = for_engine(engine)
            scope.connection = threads.get(engine) if threads is not None else engine.raw_connection()
            scope.engine, scope.threads = engine, threads
        try:
            yield Reader(scope.connection, engine, listeners)
        except engine.dialect.loaded_dbapi.Error:
            if scope.threads is not None:  # a connection that failed is not kept for the next request
                scope.threads.drop()
                scope.connection = scope.engine = scope.threads = None
            raise
        return
    connection = engine.raw_connection()
    try:
        yield Reader(connection, engine, listeners)
    finally:
        connection.close()
