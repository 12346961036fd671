"""Mail outbox, background worker status, department Reply-To address.

Revision ID: 0007_outbox
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0007_outbox"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``mail_outbox``, ``worker_jobs``, ``worker_processes``; add ``departments.email``."""
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("to_addr", sa.String(320), nullable=False),
        sa.Column("to_name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("related", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(120), nullable=False),
        sa.Column("claim_key", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_mail_outbox_state_due", "mail_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_mail_outbox_ticket_id", "mail_outbox", ["ticket_id"])
    op.create_table(
        "worker_jobs",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
    )
    op.create_table(
        "worker_processes",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("embedded", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_worker_processes_heartbeat_at", "worker_processes", ["heartbeat_at"])
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("email", sa.String(320), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("email")
    op.drop_index("ix_worker_processes_heartbeat_at", table_name="worker_processes")
    op.drop_table("worker_processes")
    op.drop_table("worker_jobs")
    op.drop_index("ix_mail_outbox_ticket_id", table_name="mail_outbox")
    op.drop_index("ix_mail_outbox_state_due", table_name="mail_outbox")
    op.drop_table("mail_outbox")
