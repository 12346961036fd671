"""One SQLite read connection per thread for the request read scopes (core.read_connections)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select

from core import read_connections
from core.db import Database
from core.db_reads import Read, read_scope

NOTES = Table("notes", MetaData(), Column("id", Integer, primary_key=True), Column("text", String(50)))
NOTE = Read(select(NOTES.c.id, NOTES.c.text).where(NOTES.c.id == bindparam("id")))


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    NOTES.metadata.create_all(database.engine)
    with database.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": 1, "text": "one"}])
    yield database
    database.dispose()


def read_in_scope(db: Database, note_id: int = 1) -> tuple[object, object]:
    """One "request": (the DBAPI connection its read used, the row)."""
    with read_scope(), db.reader() as r:
        return r._connection, r.first(NOTE, id=note_id)


def test_requests_on_one_thread_share_its_connection_outside_the_pool(db: Database) -> None:
    first, row = read_in_scope(db)
    second, _ = read_in_scope(db)
    assert row.text == "one" and first is second and isinstance(first, sqlite3.Connection)
    assert db.engine.pool.checkedout() == 0  # detached: it does not hold a pool slot
    assert first.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # the engine's connect hooks ran
    assert first.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(read_in_scope(db)[0]))
    thread.start()
    thread.join()
    assert other[0] is not first


def test_a_kept_connection_sees_every_write_and_holds_no_lock(db: Database) -> None:
    read_in_scope(db)
    with db.session() as s:  # a write through the ORM (the pool's connections) after the first read
        s.execute(insert(NOTES).values(id=2, text="two"))
    assert read_in_scope(db, 2)[1].text == "two"  # no snapshot kept from the earlier request
    with db.engine.connect() as conn:  # nothing keeps the WAL from being folded back into the database
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy is not None and busy[0] == 0


def test_dispose_closes_them_and_the_next_request_opens_a_new_one(db: Database) -> None:
    first, _ = read_in_scope(db)
    db.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")  # type: ignore[attr-defined]
    second, row = read_in_scope(db)
    assert second is not first and row.text == "one"


def test_a_failed_read_drops_the_connection(db: Database) -> None:
    first, _ = read_in_scope(db)
    broken = Read(select(NOTES.c.id).where(NOTES.c.id == bindparam("id")))
    broken.plan(db.engine).sql = "SELECT id FROM no_such_table WHERE id = ?"
    with pytest.raises(sqlite3.OperationalError), read_scope(), db.reader() as r:
        r.first(broken, id=1)
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")  # type: ignore[attr-defined]  # closed, not kept
    assert read_in_scope(db)[1].text == "one"


def test_a_forked_process_opens_its_own(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = read_in_scope(db)
    monkeypatch.setattr(read_connections.os, "getpid", lambda: -1)  # as if forked after the first read
    second, _ = read_in_scope(db)
    assert second is not first
    first.execute("SELECT 1")  # type: ignore[attr-defined]  # the parent's connection was left alone


def test_other_engines_keep_the_pool(tmp_path: Path) -> None:
    from core.db import make_engine

    memory = Database("sqlite://")
    assert read_connections.for_engine(memory.engine) is None
    NOTES.metadata.create_all(memory.engine)
    with memory.engine.begin() as conn:
        conn.execute(insert(NOTES), [{"id": 7, "text": "seven"}])
    assert read_in_scope(memory, 7)[1].text == "seven"  # through the engine's own pool
    memory.dispose()
    postgres = make_engine("postgresql://nobody@127.0.0.1:1/none")  # not connected: only its kind matters
    assert read_connections.for_engine(postgres) is None  # the pool's pre-ping and reset stay
    assert read_connections.for_engine(Database(f"sqlite:///{tmp_path / 'f.db'}").engine) is not None
