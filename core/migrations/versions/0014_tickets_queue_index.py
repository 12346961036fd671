"""An index for the agent queue's default view: a department's tickets of one status, latest update first.

``/manage/tickets`` opens on the open tickets sorted by last update. Without this index SQLite read every
ticket of the department and status and sorted them for one page (~50-90 ms at 100,000 tickets, issue 22);
with ``(department_id, status, updated_at)`` it walks the index backwards and stops after the page (< 1 ms).

Revision ID: 0014_tickets_queue_index
Revises: 0013_outbox_ticket_message
Create Date: 2026-12-03
"""

from alembic import op

revision = "0014_tickets_queue_index"
down_revision = "0013_outbox_ticket_message"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ix_tickets_dept_status_updated``."""
    op.create_index("ix_tickets_dept_status_updated", "tickets", ["department_id", "status", "updated_at"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_tickets_dept_status_updated", table_name="tickets")
