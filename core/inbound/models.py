"""The ``inbound_mail`` table: one row per email a source delivered, whatever became of it.

The row is written in the same transaction as the ticket or reply it produced, so ``(source, uid)`` being
present means "done": a source that delivers the message again gets it acknowledged, not ingested twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow

#: What became of a message: a new ticket, a reply, filed (junk, loops, blocked, duplicates: no ticket),
#: a bounce matched to an outbox message, or refused (too large, unknown sender) - each with a reason.
OUTCOMES = ("ticket", "reply", "filed", "bounce", "refused")


class InboundMail(Base):
    """One ingested email and its outcome."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("source", "uid", name="uq_inbound_mail_source_uid"),
        Index("ix_inbound_mail_source_msgid", "source", "message_id"),
        Index("ix_inbound_mail_sender_at", "sender", "received_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(120))
    uid: Mapped[str] = mapped_column(String(250))
    message_id: Mapped[str] = mapped_column(String(250), default="", index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    ticket_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[Any] = mapped_column(JSON, nullable=True)
