"""PostgreSQL: trigram indexes for the agent queue's search box (subject and guest email), where possible.

The queue's search is a substring match (``ILIKE '%text%'``); without an index PostgreSQL reads every ticket
in scope. ``pg_trgm``'s GIN indexes answer the same ``ILIKE`` for texts of three characters or more. The
extension ships with PostgreSQL (``postgresql-contrib``, part of Debian's ``postgresql`` package) and is
trusted since PostgreSQL 13: the database's owner may create it. When it cannot be created here (not
installed, or not allowed) the migration logs how to add it and the index later, and search keeps working
by scanning. SQLite needs nothing here: its FTS5 trigram table is managed by :mod:`core.tickets.search`.

The indexes are not on the models (an operator class and an extension are PostgreSQL's business only):
:data:`core.model_registry.UNMANAGED_INDEXES` keeps Alembic's comparisons from reporting them.

Revision ID: 0015_tickets_search_trigram
Revises: 0014_tickets_queue_index
Create Date: 2026-12-02
"""

import logging

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0015_tickets_search_trigram"
down_revision = "0014_tickets_queue_index"
branch_labels = None
depends_on = None

INDEXES = {"ix_tickets_subject_trgm": "subject", "ix_tickets_guest_email_trgm": "guest_email"}
log = logging.getLogger("plugdesk.migrate")


def upgrade() -> None:
    """Create ``pg_trgm`` if allowed, then a GIN trigram index per searched column (PostgreSQL only)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    manual = "; ".join(["CREATE EXTENSION IF NOT EXISTS pg_trgm",
                        *(f"CREATE INDEX {name} ON tickets USING gin ({col} gin_trgm_ops)"
                          for name, col in INDEXES.items())])
    try:
        with bind.begin_nested():
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.warning("ticket search will scan every ticket: the pg_trgm extension could not be created (%s). "
                    "A database superuser can add it and the indexes later: %s",
                    str(exc.orig).strip().splitlines()[0] if exc.orig else exc, manual)
        return
    for name, col in INDEXES.items():
        op.create_index(name, "tickets", [col], postgresql_using="gin", postgresql_ops={col: "gin_trgm_ops"})


def downgrade() -> None:
    """Drop the indexes (the extension stays: other objects may use it)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
