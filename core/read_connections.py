"""One SQLite connection per thread for the web requests' precompiled reads (:func:`core.db_reads.read_scope`).

A page's reads used to check a connection out of the engine's pool and return it at the end of the request:
the pool's lock, its events and the reset on return cost about a tenth of a logged-in page's CPU (my tickets,
KB category: 0.89-0.90 of the time without them, interleaved in-process A/B, issue 22). On SQLite nothing
about a read needs a fresh checkout: a connection does not go stale, and with Python's ``sqlite3`` a
``SELECT`` opens no transaction, so a connection kept between requests holds no snapshot or lock (WAL
checkpoints go on). So each thread keeps one connection, detached from the pool (it does not count against
``pool_size``), opened with the engine's own connect hooks (WAL, foreign keys, busy timeout).

Only file-backed SQLite engines with a :class:`~sqlalchemy.pool.QueuePool` get one; PostgreSQL keeps the
pool, whose pre-ping replaces a connection the server dropped and whose reset ends the read transaction.
A connection belongs to the process that opened it (a forked worker opens its own), a DBAPI error drops it
(the next read opens a new one), and :meth:`core.db.Database.dispose` closes them all.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool


class ThreadConnections:
    """The per-thread read connections of one engine."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []  # every connection this process handed out, for close_all
        self._pid = os.getpid()
        self._generation = 0

    def get(self, engine: Engine) -> Any:
        """This thread's DBAPI connection to ``engine`` (opened at the first call in this thread and process)."""
        local = self._local
        pid = os.getpid()
        if getattr(local, "key", None) == (pid, self._generation):
            return local.connection
        fairy = engine.raw_connection()  # through the pool, so the engine's connect hooks run
        fairy.detach()  # ...then ours alone: closing it closes the connection, the pool forgets it
        with self._lock:
            if self._pid != pid:  # a forked child: the parent's connections are never touched here
                self._pid, self._open = pid, []
            self._open.append(fairy)
            local.key, local.fairy, local.connection = (pid, self._generation), fairy, fairy.dbapi_connection
        return local.connection

    def drop(self) -> None:
        """Close this thread's connection (after a DBAPI error); the next :meth:`get` opens another."""
        fairy = getattr(self._local, "fairy", None)
        self._local.key = None
        self._local.fairy = self._local.connection = None
        if fairy is not None:
            with self._lock:
                if fairy in self._open:
                    self._open.remove(fairy)
            _close_quietly(fairy)

    def close_all(self) -> None:
        """Close every connection this process opened; threads open new ones at their next read."""
        with self._lock:
            self._generation += 1
            closing, self._open = self._open, []
        for fairy in closing:
            _close_quietly(fairy)


def _close_quietly(fairy: Any) -> None:
    try:
        fairy.close()
    except Exception:  # noqa: S110 - a connection that cannot even close is gone either way
        pass


_registry: WeakKeyDictionary[Engine, ThreadConnections | None] = WeakKeyDictionary()
_registry_lock = threading.Lock()


def eligible(engine: Engine) -> bool:
    """Whether ``engine`` is a file-backed SQLite engine with a queue pool (see the module)."""
    database = engine.url.database or ""
    return (engine.dialect.name == "sqlite" and isinstance(engine.pool, QueuePool)
            and database not in ("", ":memory:") and not database.startswith("file::memory:"))


_KEEPS_POOL = None


def for_engine(engine: Engine) -> ThreadConnections | None:
    """The per-thread connections of ``engine``, or ``None`` when it keeps the pool."""
    try:
        return _registry[engine]
    except KeyError:
        pass
    with _registry_lock:
        if engine not in _registry:
            _registry[engine] = ThreadConnections() if eligible(engine) else _KEEPS_POOL
        return _registry[engine]


def close_for(engine: Engine) -> None:
    """Close ``engine``'s per-thread connections (before the engine is disposed)."""
    found = _registry.get(engine)
    if found is not None:
        found.close_all()
