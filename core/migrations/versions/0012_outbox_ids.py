"""Outbox ids never reused on SQLite (issue 18, like ``0009_workspace_ids``).

Admins see outbox ids (*Management > Mail*, ``plugdesk mail outbox retry ID``), and rows do get deleted: a
message with nothing left to send is dropped, sent ones are cleaned up after ``keep_sent_days``. Without
``AUTOINCREMENT`` SQLite gives a deleted newest row's id to the next message, so a retry by id or an id in
the audit log could reach a different message. ``mail_outbox`` is rebuilt with
``INTEGER PRIMARY KEY AUTOINCREMENT`` (SQLite's table rebuild; rows, ids and indexes kept). PostgreSQL
sequences never reuse a value: nothing to do there.

Revision ID: 0012_outbox_ids
Revises: 0011_inbound_mail
Create Date: 2026-12-02
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0012_outbox_ids"
down_revision = "0011_inbound_mail"
branch_labels = None
depends_on = None

TABLE = "mail_outbox"


def _rebuild_with_autoincrement(conn: sa.Connection, table: str) -> None:
    """Re-create ``table`` with ``id INTEGER PRIMARY KEY AUTOINCREMENT``, keeping rows, ids and indexes."""
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table,)).scalar_one()
    if "AUTOINCREMENT" in sql:
        return
    new, columns = re.subn(r"^(\s*)id INTEGER NOT NULL,", r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,",
                           sql, count=1, flags=re.MULTILINE)
    new, keys = re.subn(r",\s*PRIMARY KEY \(id\)", "", new, count=1)
    if columns != 1 or keys != 1:
        raise RuntimeError(f"unexpected definition of table {table}; cannot add AUTOINCREMENT:\n{sql}")
    extras = [row[0] for row in conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL",
        (table,))]
    names = ", ".join(f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    temp = f"_rebuild_{table}"
    head = re.match(r"\s*CREATE TABLE\s+(\"?\w+\"?)", new)
    assert head is not None
    conn.exec_driver_sql(new[:head.start(1)] + f'"{temp}"' + new[head.end(1):])
    conn.exec_driver_sql(f'INSERT INTO "{temp}" ({names}) SELECT {names} FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for statement in extras:
        conn.exec_driver_sql(statement)


def upgrade() -> None:
    """Rebuild ``mail_outbox`` with AUTOINCREMENT on SQLite."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _rebuild_with_autoincrement(conn, TABLE)
    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table rebuild: {problems[:10]}")


def downgrade() -> None:
    """Nothing to undo: an AUTOINCREMENT table is harmless for 0011, and ids stay unique."""
