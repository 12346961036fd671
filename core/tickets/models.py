"""Ticket tables: departments (with retention switches), tickets, messages and per-ticket history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.db_indexes import partial_index
from core.models import utcnow
from core.types import TicketStatus

STATUSES: tuple[str, ...] = tuple(s.value for s in TicketStatus)
MAX_DAYS = 36_500


class Department(Base):
    """A queue of tickets. Retention day counts are ``None`` (off) or 1..36,500."""

    __tablename__ = "departments"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (SQLite AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str] = mapped_column(String(320), default="")  # Reply-To of its notifications ("" = none)
    auto_close_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lock_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delete_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DepartmentAgent(Base):
    """An agent assigned to a department (sees and answers its tickets)."""

    __tablename__ = "department_agents"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class Ticket(Base):
    """A customer's request. ``status``: open (customer spoke last), waiting (agent spoke last), closed."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_dept_status_agent", "department_id", "status", "last_agent_reply_at"),
        Index("ix_tickets_dept_status_closed", "department_id", "status", "closed_at"),
        # The agent queue's default view (one status, latest update first) reads a page, not a sort of all
        Index("ix_tickets_dept_status_updated", "department_id", "status", "updated_at"),
        # Partial: guest and unassigned tickets (NULL) would otherwise make the planner's statistics call
        # these indexes useless (500,000 rows per key at 1M tickets) and scan the table for "My tickets".
        partial_index("ix_tickets_customer_id", "customer_id", where="customer_id IS NOT NULL"),
        partial_index("ix_tickets_assignee_id", "assignee_id", where="assignee_id IS NOT NULL"),
        {"sqlite_autoincrement": True},  # a deleted ticket's number is never given to another ticket
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    guest_email: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN.value)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_customer_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_agent_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TicketMessage(Base):
    """One message of a ticket; ``internal`` notes are never shown to customers."""

    __tablename__ = "ticket_messages"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(150), default="")
    from_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketEvent(Base):
    """The history of a ticket: who did what when (created, replied, status, locked, moved, ...)."""

    __tablename__ = "ticket_events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(150))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)
