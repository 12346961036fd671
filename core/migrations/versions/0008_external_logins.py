"""Linked external sign-ins (redirect logins such as OpenID Connect) for existing accounts.

Revision ID: 0008_external_logins
Revises: 0007_outbox
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0008_external_logins"
down_revision = "0007_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``external_logins``."""
    op.create_table(
        "external_logins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("provider", "external_id", name="uq_external_logins_provider_subject"),
    )
    op.create_index("ix_external_logins_user_id", "external_logins", ["user_id"])


def downgrade() -> None:
    """Drop ``external_logins``."""
    op.drop_index("ix_external_logins_user_id", "external_logins")
    op.drop_table("external_logins")
