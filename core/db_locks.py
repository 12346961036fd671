"""Cluster-wide named locks on the database: one holder among every node sharing it.

On PostgreSQL a session advisory lock on a dedicated connection (the server releases it if the process dies);
on SQLite - one database file on one host - an exclusive ``flock`` on ``<database>.<name>-lock`` next to it.
An in-memory SQLite database lives in one process only, so it needs no lock. Used by schema upgrades
(:func:`core.ops.schema.upgrade_lock`) and retention runs (:func:`core.retention.cluster_lock`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


def lock_file(engine: Engine, name: str) -> Path | None:
    """The file whose ``flock`` stands for the lock ``name`` on a SQLite database, or ``None`` when there is
    nothing to lock (not SQLite, or an in-memory database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(f"{Path(database).name}.{name}-lock")


@contextmanager
def database_lock(engine: Engine, key: int, name: str, *, timeout: float | None = 0.0,
                  poll: float = 0.2) -> Iterator[bool]:
    """Hold the cluster-wide lock ``key`` (PostgreSQL) / ``name`` (SQLite file) while the block runs.

    :param key: the advisory lock id (one per purpose, e.g. ``0x706C_7265_7465`` for "plret").
    :param name: the lock's name in the SQLite lock file, ``<database>.<name>-lock``.
    :param timeout: how long to wait for another holder, in seconds: ``0`` tries once, ``None`` waits as long
        as it takes.
    :param poll: the pause between two tries while waiting with a ``timeout``.
    :return: yields ``True`` while the lock is held, ``False`` (without holding it) when another holder kept it
        for the whole ``timeout``.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, key, deadline, poll) as got:
            yield got
        return
    path = lock_file(engine, name)
    if path is None:
        yield True
        return
    with _file_lock(path, deadline, poll) as got:
        yield got


@contextmanager
def _advisory_lock(engine: Engine, key: int, deadline: float | None, poll: float) -> Iterator[bool]:
    conn = engine.connect()
    got = False
    try:
        if deadline is None:
            got = bool(conn.execute(text("SELECT pg_advisory_lock(:k) IS NOT NULL"), {"k": key}).scalar())
        else:
            while not (got := bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())):
                conn.commit()  # no transaction stays open while waiting
                if time.monotonic() >= deadline:
                    break
                time.sleep(poll)
        conn.commit()
        yield got
    finally:
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        conn.close()


@contextmanager
def _file_lock(path: Path, deadline: float | None, poll: float) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(poll)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
