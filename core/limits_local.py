"""Counters shared by every process on one machine, without Redis: ``[limits] storage = "local://"``.

A small SQLite database in WAL mode (``DATA_DIR/limits.db``, or ``local:///ABSOLUTE/PATH.db``) holds the
lockout counters, captcha nonces and flask-limiter's per-address windows, so ``plugdesk serve`` can run one
worker process per core while a lockout after 10 failures stays exact across the workers. Every operation is
one SQL statement (an upsert with ``RETURNING`` where it both reads and writes), hence atomic across threads
and processes. Expired rows are ignored when read and swept by a write at most every ``PURGE_EVERY`` seconds.

Redis (``redis://``) stays the choice for several machines; ``memory://`` keeps counters in one process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from limits.storage import Storage

from core.limits import CounterStore, LimitsUnavailable

SCHEMA = ("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, num INTEGER NOT NULL DEFAULT 0, "
          "value TEXT, expires REAL NOT NULL) WITHOUT ROWID")
FILE_NAME = "limits.db"


def local_path(url: str, data_dir: Path | str | None) -> Path:
    """The database file of a ``local://`` URL: ``local:///ABS/PATH`` or ``DATA_DIR/limits.db``."""
    rest = url[len("local://"):]
    if rest.startswith("/") and len(rest) > 1:
        return Path(rest)
    return Path(data_dir or ".") / FILE_NAME


class _Connections:
    """One SQLite connection per thread and process (a connection never crosses a fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._open() as conn:
            conn.execute(SCHEMA)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # counters: durable at checkpoints, never corrupt
        return conn

    def get(self) -> sqlite3.Connection:
        found = getattr(self._local, "conn", None)
        if found is None or found[0] != os.getpid():
            found = self._local.conn = (os.getpid(), self._open())
        return found[1]


class LocalStore(CounterStore):
    """:class:`CounterStore` in a SQLite file shared by the processes of one machine."""

    PURGE_EVERY = 60.0

    def __init__(self, path: Path | str, clock: Any = time.time) -> None:
        self.path = Path(path)
        self._conns = _Connections(self.path)
        self._clock = clock
        self._next_purge = 0.0

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conns.get().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise LimitsUnavailable(f"local limits store {self.path}: {exc}") from exc

    def _purge(self, now: float) -> None:
        if now >= self._next_purge:
            self._next_purge = now + self.PURGE_EVERY
            self._run("DELETE FROM counters WHERE expires <= ?", (now,))

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> int:
        now = self._clock()
        self._purge(now)
        rows = self._run(
            "INSERT INTO counters (key, num, expires) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET "
            "num = CASE WHEN expires <= ?4 THEN excluded.num ELSE num + excluded.num END, "
            "expires = CASE WHEN expires <= ?4 THEN excluded.expires ELSE expires END RETURNING num",
            (key, amount, now + window_seconds, now))
        return int(rows[0][0])

    def get(self, key: str) -> int:
        rows = self._run("SELECT num FROM counters WHERE key = ? AND expires > ?", (key, self._clock()))
        return int(rows[0][0]) if rows else 0

    def expiry(self, key: str) -> float | None:
        """When ``key`` expires (wall-clock seconds), ``None`` when absent or expired."""
        rows = self._run("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, self._clock()))
        return float(rows[0][0]) if rows else None

    def delete(self, *keys: str) -> None:
        if keys:
            self._run(f"DELETE FROM counters WHERE key IN ({', '.join('?' * len(keys))})", tuple(keys))

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        now = self._clock()
        self._purge(now)
        rows = self._run(
            "INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, num = 0, expires = excluded.expires WHERE expires <= ?4 RETURNING 1",
            (key, value, now + ttl_seconds, now))
        return bool(rows)

    def read(self, key: str) -> str | None:
        rows = self._run("SELECT value, num FROM counters WHERE key = ? AND expires > ?", (key, self._clock()))
        if not rows:
            return None
        value, num = rows[0]
        return str(value) if value is not None else str(num)

    def write(self, key: str, value: str, ttl_seconds: int) -> None:
        now = self._clock()
        self._purge(now)
        self._run("INSERT INTO counters (key, value, num, expires) VALUES (?, ?, 0, ?) ON CONFLICT (key) DO UPDATE "
                  "SET value = excluded.value, num = 0, expires = excluded.expires", (key, value, now + ttl_seconds))

    def clear_prefix(self, prefix: str) -> int:
        """Drop every key starting with ``prefix``; return how many there were."""
        rows = self._run("DELETE FROM counters WHERE substr(key, 1, ?) = ? RETURNING 1", (len(prefix), prefix))
        return len(rows)

    def ping(self) -> None:
        self._run("SELECT 1")


class LocalLimiterStorage(Storage):
    """flask-limiter (``limits``) storage on :class:`LocalStore`: fixed windows shared by the machine's
    workers. URI ``plugdesk-local:///ABSOLUTE/PATH.db`` (built by :mod:`core.web.ratelimit`)."""

    STORAGE_SCHEME = ["plugdesk-local"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        path = (uri or "")[len("plugdesk-local://"):]
        self.store = LocalStore(path)
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (LimitsUnavailable, sqlite3.Error)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.store.hit("rl:" + key, expiry, amount)

    def get(self, key: str) -> int:
        return self.store.get("rl:" + key)

    def get_expiry(self, key: str) -> float:
        return self.store.expiry("rl:" + key) or time.time()

    def check(self) -> bool:
        try:
            self.store.ping()
        except LimitsUnavailable:
            return False
        return True

    def reset(self) -> int | None:
        return self.store.clear_prefix("rl:")

    def clear(self, key: str) -> None:
        self.store.delete("rl:" + key)
