"""The agent queue's text search (subject and guest email) through an index, where the database has one.

The queue's search box finds tickets whose subject or guest email *contains* the text typed. As a
``LIKE '%text%'`` that is a scan of every ticket in the agent's departments: ~120-380 ms per page at 100,000
tickets on SQLite (the page and its counts each scan), whatever the text. On SQLite, an FTS5 table with the
``trigram`` tokenizer indexes every three-character substring of both columns, so a text of three characters
or more is looked up in the index (case-insensitively, Unicode case folded) and only the matching tickets are
read. Shorter texts (a trigram index cannot look them up) keep the ``LIKE`` scan.

The FTS table reads its text from ``tickets`` (an external-content table keyed by the ticket id), and three
triggers keep it in step with every insert, delete and change of subject or guest email, whichever code path
writes (web, API, mail, retention, a plugin). It is not a model: a virtual table and its shadow tables are no
business of Alembic's autogenerate (see :data:`core.model_registry.UNMANAGED_PREFIXES`). :func:`ensure_index`
creates it and fills it from ``tickets``: at ``plugdesk db upgrade``, when ``serve`` starts (before the
workers fork), and otherwise on a process's first search. When the triggers are missing (a migration that
rebuilt ``tickets`` on SQLite drops them) it re-creates them and rebuilds the index from the table, so the
index never serves stale matches.

PostgreSQL keeps ``ILIKE``, which its ``pg_trgm`` GIN indexes on both columns answer (migration 0015,
where the extension could be created); other databases scan.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

TABLE = "tickets_search"
#: The shortest text the trigram index can look up.
MIN_INDEXED = 3
_COLUMNS = "subject, guest_email"
_OLD = f"INSERT INTO {TABLE}({TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.id, old.subject, old.guest_email);"
_NEW = f"INSERT INTO {TABLE}(rowid, {_COLUMNS}) VALUES (new.id, new.subject, new.guest_email);"
TRIGGERS = {f"{TABLE}_insert": f"AFTER INSERT ON tickets BEGIN {_NEW} END",
            f"{TABLE}_delete": f"AFTER DELETE ON tickets BEGIN {_OLD} END",
            f"{TABLE}_update": f"AFTER UPDATE OF subject, guest_email ON tickets BEGIN {_OLD} {_NEW} END"}
_EXTRA = "tickets.search_index"
log = logging.getLogger("plugdesk.tickets")


def supported(engine: Engine) -> bool:
    """Whether ``engine``'s database can hold the index (SQLite 3.34 or later: the trigram tokenizer)."""
    return engine.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 34)


def ensure_index(engine: Engine) -> bool | None:
    """Create (or repair) the index and its triggers if needed; ``True`` when searches may use it.

    Idempotent and safe for several processes at once (each statement is ``IF NOT EXISTS``; a second
    rebuild only repeats the first's work). ``False`` on databases without FTS5 trigram support and when
    creating it fails (logged; searches then scan as before); ``None`` while the ``tickets`` table does not
    exist yet (ask again later)."""
    if not supported(engine):
        return False
    wanted = [TABLE, *TRIGGERS]
    try:
        with engine.begin() as conn:
            names = {row[0] for row in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?, ?, ?)", ("tickets", *wanted))}
            if "tickets" not in names:
                return None
            if all(name in names for name in wanted):
                return True
            conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5({_COLUMNS}, "
                                 "content='tickets', content_rowid='id', tokenize='trigram')")
            for name, body in TRIGGERS.items():
                conn.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
            conn.exec_driver_sql(f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')")
    except (SQLAlchemyError, sqlite3.Error) as exc:
        log.error("ticket search index could not be created (searches scan every ticket instead): %s", exc)
        return False
    log.info("ticket search index built from the tickets table")
    return True


def index_ready(extras: dict[str, Any], engine: Engine) -> bool:
    """:func:`ensure_index`, run once per process and engine (the answer kept in the app's ``extras``)."""
    found = extras.get(_EXTRA)
    if found is None or found[0] is not engine:
        ready = ensure_index(engine)
        if ready is None:
            return False
        found = extras[_EXTRA] = (engine, ready)
    return bool(found[1])


def match_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (quotes doubled): with trigrams, a phrase matches where ``text`` is a
    substring, and nothing in ``text`` is read as query syntax."""
    return '"' + text.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'``, the wildcards ``%`` and ``_`` in ``text`` matched literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
