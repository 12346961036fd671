"""The outbox records which ticket message a notification is about (``mail_outbox.ticket_message_id``).

Rows already had ``ticket_id``; a notification caused by a reply now also names the reply, shown on
*Management > Mail* next to the ticket. ``NULL`` for every other message and for rows written before.

Revision ID: 0013_outbox_ticket_message
Revises: 0012_outbox_ids
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_outbox_ticket_message"
down_revision = "0012_outbox_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``ticket_message_id`` column."""
    op.add_column("mail_outbox", sa.Column("ticket_message_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop the column again (``ALTER TABLE ... DROP COLUMN``: SQLite 3.35+ and PostgreSQL; no table rebuild,
    so ``0012``'s AUTOINCREMENT stays)."""
    op.drop_column("mail_outbox", "ticket_message_id")
