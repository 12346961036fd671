"""Merge the feature branches (files, knowledge base and community, tickets) into one history.

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-23
"""

revision = "0005"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change."""
