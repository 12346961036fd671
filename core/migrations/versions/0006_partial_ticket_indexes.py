"""Partial indexes on tickets.customer_id and tickets.assignee_id (NULLs excluded).

With many guest or unassigned tickets, full indexes hold one huge NULL group, the planner's statistics
then rate them useless, and "My tickets" scanned the whole table (found by the scale benchmark).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the full indexes by partial ones."""
    for column in ("customer_id", "assignee_id"):
        op.drop_index(f"ix_tickets_{column}", table_name="tickets")
        op.create_index(f"ix_tickets_{column}", "tickets", [column],
                        sqlite_where=sa.text(f"{column} IS NOT NULL"),
                        postgresql_where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    """Back to full indexes."""
    for column in ("customer_id", "assignee_id"):
        op.drop_index(f"ix_tickets_{column}", table_name="tickets")
        op.create_index(f"ix_tickets_{column}", "tickets", [column])
