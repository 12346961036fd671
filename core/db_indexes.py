"""Partial indexes (``CREATE INDEX ... WHERE``) on SQLite and PostgreSQL without importing PostgreSQL's dialect.

Declaring ``Index(..., postgresql_where=...)`` makes SQLAlchemy validate the keyword against the PostgreSQL
dialect, which imports the whole ``sqlalchemy.dialects.postgresql`` package (every driver module: about 2 MiB
in every process, and in every gunicorn worker of a SQLite deployment that never talks to PostgreSQL; issue
22). :func:`partial_index` sets ``sqlite_where`` at once (SQLite's dialect is loaded for ``sqlite_autoincrement``
anyway) and attaches ``postgresql_where`` the first time a PostgreSQL connection is made, which is before any
``CREATE INDEX``, ``create_all`` or Alembic comparison on PostgreSQL can read it.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Index, event, text
from sqlalchemy.engine import Engine

_PENDING: list[tuple[Index, str]] = []  # (index, WHERE clause) still without its postgresql_where
_LOCK = threading.Lock()
_SEEN = {"postgresql": False}  # set on the first PostgreSQL connection: later declarations attach at once


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """``Index(name, *columns, unique=unique)`` restricted to the rows matching ``where`` (SQL text) on SQLite
    and PostgreSQL, like ``sqlite_where=text(where), postgresql_where=text(where)``."""
    index = Index(name, *columns, unique=unique, sqlite_where=text(where))
    with _LOCK:
        _PENDING.append((index, where))
    if _SEEN["postgresql"]:
        attach_postgresql_where()
    return index


def attach_postgresql_where() -> None:
    """Give every partial index declared so far its ``postgresql_where`` (imports the PostgreSQL dialect).

    Called on the first PostgreSQL connection; call it directly before compiling DDL for PostgreSQL without a
    connection (``create_mock_engine``, Alembic's offline mode).
    """
    with _LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    for index, where in pending:
        index.dialect_options["postgresql"]["where"] = text(where)


@event.listens_for(Engine, "do_connect")
def _on_connect(dialect: Any, _conn_rec: Any, _cargs: Any, _cparams: Any) -> None:
    """A new DBAPI connection (pooled, so rare): on PostgreSQL attach the pending ``postgresql_where``."""
    if dialect.name == "postgresql":
        _SEEN["postgresql"] = True
        if _PENDING:
            attach_postgresql_where()
