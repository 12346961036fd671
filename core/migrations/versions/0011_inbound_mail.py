"""Email to ticket: ``inbound_mail`` records every email a mail source delivered and what became of it.

Revision ID: 0011_inbound_mail
Revises: 0010_twofactor_sessions
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0011_inbound_mail"
down_revision = "0010_twofactor_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``inbound_mail`` with its idempotency key ``(source, uid)``."""
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("uid", sa.String(250), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("ticket_message_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=True),
        sa.UniqueConstraint("source", "uid", name="uq_inbound_mail_source_uid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inbound_mail_source_msgid", "inbound_mail", ["source", "message_id"])
    op.create_index("ix_inbound_mail_sender_at", "inbound_mail", ["sender", "received_at"])
    op.create_index("ix_inbound_mail_message_id", "inbound_mail", ["message_id"])
    op.create_index("ix_inbound_mail_ticket_id", "inbound_mail", ["ticket_id"])


def downgrade() -> None:
    """Drop ``inbound_mail``."""
    op.drop_table("inbound_mail")
