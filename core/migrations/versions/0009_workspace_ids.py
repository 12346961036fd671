"""Ids never reused on SQLite, canned responses, Markdown KB articles, RSS imports keyed by (feed, guid).

* SQLite gives a deleted row's id to the next insert unless the table is declared ``AUTOINCREMENT``; ticket
  numbers, download links, audit targets and emails would then point at a different row. The tables whose
  ids reach users are rebuilt with ``INTEGER PRIMARY KEY AUTOINCREMENT`` (SQLite's documented twelve-step
  table rebuild; ``core/migrations/env.py`` switches foreign keys off for the run, and the result is checked
  with ``PRAGMA foreign_key_check``). PostgreSQL sequences never reuse a value: nothing to do there.
* ``canned_responses`` (agent workspace).
* ``kb_articles``: ``body_format`` / ``body_source`` (Markdown), ``source_url`` (the item's ``<link>``),
  ``source_feed``; the unique key of imports becomes ``(source_feed, source_guid)``.

Revision ID: 0009_workspace_ids
Revises: 0008_external_logins
Create Date: 2026-12-03
"""

import re

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0009_workspace_ids"
down_revision = "0008_external_logins"
branch_labels = None
depends_on = None

#: Tables whose ids users see (URLs, ticket numbers, emails, the audit log, download links).
AUTOINCREMENT_TABLES = ("users", "api_tokens", "audit_log", "departments", "tickets", "ticket_messages",
                        "ticket_events", "kb_categories", "kb_articles", "kb_feedback", "community_categories",
                        "community_posts", "attachments", "canned_responses")
OLD_UNIQUE = "UNIQUE (source_guid)"
NEW_UNIQUE = "CONSTRAINT uq_kb_articles_source UNIQUE (source_feed, source_guid)"


def _autoincrement_sql(table: str, sql: str) -> str:
    """The ``CREATE TABLE`` text of ``table`` with ``id INTEGER PRIMARY KEY AUTOINCREMENT``."""
    sql, columns = re.subn(r"^(\s*)id INTEGER NOT NULL,", r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,",
                           sql, count=1, flags=re.MULTILINE)
    sql, keys = re.subn(r",\s*PRIMARY KEY \(id\)", "", sql, count=1)
    if columns != 1 or keys != 1:
        raise RuntimeError(f"unexpected definition of table {table}; cannot add AUTOINCREMENT:\n{sql}")
    return sql


def _rebuild(conn: sa.Connection, table: str, change: dict[str, str] | None = None) -> None:
    """Re-create ``table`` from its own definition (edited), keeping rows, ids, indexes and triggers."""
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table,)).scalar_one()
    new = sql if "AUTOINCREMENT" in sql else _autoincrement_sql(table, sql)
    for old, replacement in (change or {}).items():
        if old in new:
            new = new.replace(old, replacement, 1)
    if new == sql:
        return
    extras = [row[0] for row in conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL",
        (table,))]
    columns = ", ".join(f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    temp = f"_rebuild_{table}"
    head = re.match(r"\s*CREATE TABLE\s+(\"?\w+\"?)", new)
    assert head is not None
    conn.exec_driver_sql(new[:head.start(1)] + f'"{temp}"' + new[head.end(1):])
    conn.exec_driver_sql(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for statement in extras:
        conn.exec_driver_sql(statement)


def upgrade() -> None:
    """Create ``canned_responses``, extend ``kb_articles``, rebuild SQLite tables with AUTOINCREMENT."""
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(150), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_canned_responses_department_id", "canned_responses", ["department_id"])
    op.add_column("kb_articles", sa.Column("source_feed", sa.String(500), nullable=False, server_default=""))
    op.add_column("kb_articles", sa.Column("source_url", sa.String(2000), nullable=True))
    op.add_column("kb_articles", sa.Column("body_format", sa.String(16), nullable=False, server_default="html"))
    op.add_column("kb_articles", sa.Column("body_source", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        op.drop_constraint("kb_articles_source_guid_key", "kb_articles", type_="unique")
        op.create_unique_constraint("uq_kb_articles_source", "kb_articles", ["source_feed", "source_guid"])
        return
    for table in AUTOINCREMENT_TABLES:
        _rebuild(conn, table, {OLD_UNIQUE: NEW_UNIQUE} if table == "kb_articles" else None)
    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table rebuild: {problems[:10]}")


def downgrade() -> None:
    """Back to the shape of 0008 (SQLite tables keep AUTOINCREMENT: harmless, and ids stay unique)."""
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _rebuild(conn, "kb_articles", {NEW_UNIQUE: OLD_UNIQUE})
    else:
        op.drop_constraint("uq_kb_articles_source", "kb_articles", type_="unique")
        op.create_unique_constraint("kb_articles_source_guid_key", "kb_articles", ["source_guid"])
    with op.batch_alter_table("kb_articles") as batch:
        for column in ("body_source", "body_format", "source_url", "source_feed"):
            batch.drop_column(column)
    op.drop_index("ix_canned_responses_department_id", table_name="canned_responses")
    op.drop_table("canned_responses")
