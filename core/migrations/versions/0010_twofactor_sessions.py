"""Unique email addresses, two-factor login, session records.

* ``users.email_key`` becomes unique (accounts without an address keep ``""``), and no username may be
  another account's address. Existing duplicates are settled first, each change written to the audit log:
  the address stays with the account that verified it (else the oldest); the others lose it (they can add
  another one from their profile). A username that is someone else's address is renamed ``user<ID>`` when
  that someone verified the address; otherwise the unverified address is taken off the other account.
* ``twofactor_totp``, ``twofactor_passkeys``, ``twofactor_recovery_codes``: second factors.
* ``user_sessions`` and ``api_tokens.last_used_at`` / ``ip`` / ``user_agent``: the Sessions page.

Revision ID: 0010_twofactor_sessions
Revises: 0009_workspace_ids
Create Date: 2026-12-04
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0010_twofactor_sessions"
down_revision = "0009_workspace_ids"
branch_labels = None
depends_on = None

AUDIT = sa.table("audit_log", sa.column("at", UTCDateTime()), sa.column("actor", sa.String()),
                 sa.column("ip", sa.String()), sa.column("action", sa.String()), sa.column("target", sa.String()),
                 sa.column("old", sa.JSON()), sa.column("new", sa.JSON()))


def _audit(conn: sa.Connection, action: str, target: str, old: str, new: str) -> None:
    conn.execute(AUDIT.insert().values(at=datetime.now(UTC), actor="migration", ip="", action=action,
                                       target=target, old=old, new=new))


def settle_duplicates(conn: sa.Connection) -> None:
    """Make addresses unique and keep usernames off other accounts' addresses (see the module text)."""
    dupes = conn.execute(sa.text("SELECT email_key FROM users WHERE email_key != '' GROUP BY email_key "
                                 "HAVING COUNT(*) > 1")).scalars().all()
    for key in dupes:
        rows = conn.execute(sa.text("SELECT id, username, email FROM users WHERE email_key = :k "
                                    "ORDER BY email_verified DESC, id"), {"k": key}).all()
        for row in rows[1:]:
            conn.execute(sa.text("UPDATE users SET email = '', email_key = '', email_verified = :f WHERE id = :i"),
                         {"i": row.id, "f": False})
            _audit(conn, "user.email_dedup", row.username, row.email, f"kept by {rows[0].username}")
    clashes = conn.execute(sa.text(
        "SELECT a.id AS a_id, a.username AS a_name, b.id AS b_id, b.username AS b_name, b.email AS b_email, "
        "b.email_verified AS verified FROM users a JOIN users b ON a.username_key = b.email_key "
        "WHERE a.id != b.id AND b.email_key != ''")).all()
    for row in clashes:
        if row.verified:
            name, n = f"user{row.a_id}", 0
            while conn.execute(sa.text("SELECT 1 FROM users WHERE username_key = :k"), {"k": name}).first():
                n += 1
                name = f"user{row.a_id}-{n}"
            conn.execute(sa.text("UPDATE users SET username = :n, username_key = :n WHERE id = :i"),
                         {"n": name, "i": row.a_id})
            _audit(conn, "user.rename", row.a_name, row.a_name, f"{name} (the old name is {row.b_name}'s address)")
        else:
            conn.execute(sa.text("UPDATE users SET email = '', email_key = '' WHERE id = :i"), {"i": row.b_id})
            _audit(conn, "user.email_dedup", row.b_name, row.b_email, f"unverified; it is {row.a_name}'s username")


def upgrade() -> None:
    """Settle duplicates, add the unique index, the second-factor and session tables, token details."""
    settle_duplicates(op.get_bind())
    op.create_index("uq_users_email_key", "users", ["email_key"], unique=True,
                    sqlite_where=sa.text("email_key != ''"), postgresql_where=sa.text("email_key != ''"))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("user_agent", sa.String(300), nullable=False, server_default=""))
    op.create_table(
        "twofactor_totp",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "twofactor_passkeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credential_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_twofactor_passkeys_user_id", "twofactor_passkeys", ["user_id"])
    op.create_table(
        "twofactor_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_twofactor_recovery_codes_user_id", "twofactor_recovery_codes", ["user_id"])
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sid_hash", sa.String(64), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=False),
        sa.Column("second_factor", sa.Boolean(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` added (settled duplicates stay settled)."""
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index("ix_twofactor_recovery_codes_user_id", table_name="twofactor_recovery_codes")
    op.drop_table("twofactor_recovery_codes")
    op.drop_index("ix_twofactor_passkeys_user_id", table_name="twofactor_passkeys")
    op.drop_table("twofactor_passkeys")
    op.drop_table("twofactor_totp")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("user_agent")
        batch.drop_column("ip")
        batch.drop_column("last_used_at")
    op.drop_index("uq_users_email_key", table_name="users")
