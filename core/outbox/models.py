"""The ``mail_outbox`` table: every outgoing message, written in the transaction of the event that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow

#: Row states. ``sending`` rows are claimed by a live worker; a dead worker's rows go back to ``queued``.
STATES = ("queued", "sending", "sent", "failed", "discarded", "bounced")  # bounced: a DSN came back (core.inbound)


class OutboxMessage(Base):
    """One outgoing message.

    ``kind`` ``mail`` rows carry their final text. Other kinds (``password_reset``, ``verify_email``) are
    rendered by the worker at send time from ``payload`` - no raw token is ever stored, so a database dump
    holds no usable link. ``message_id`` is fixed when the row is written, so every retry (and the sink)
    sees the same Message-ID; replies find their ticket through it.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_due", "state", "next_attempt_at"),
                      {"sqlite_autoincrement": True})  # ids are shown to admins: never reused (0012)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32), default="mail")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    to_addr: Mapped[str] = mapped_column(String(320), default="")
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    headers: Mapped[Any] = mapped_column(JSON, nullable=True)
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: the ticket message (reply) the notification is about (``0013``); ``None`` for other mail
    ticket_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    related: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(120), default="")
    claim_key: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
