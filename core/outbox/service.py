"""Queue messages in the database transaction of the event that causes them; nothing talks SMTP here.

* :func:`enqueue` adds a row to a given session (core code that owns the transaction).
* :func:`joining` (from :mod:`core.db`) makes the transaction of a core operation the one that mail sent through
  :class:`OutboxMailer` (``ctx.mailer``) joins - e.g. around the ``ticket_replied`` event, so the
  notification exists if and only if the reply does.
* :class:`OutboxMailer` is what plugins get as ``ctx.mailer``: ``send(to, subject, body, ...)`` queues.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.db import Database, joined_session, joining
from core.mail import MailError
from core.models import utcnow
from core.outbox.compose import (
    InvalidAddress,
    check_address,
    clean_header_text,
    mail_domain,
    message_id,
    ticket_root_id,
    ticket_subject,
)
from core.outbox.models import OutboxMessage
from core.settings import Settings

__all__ = ["OutboxMailer", "about_message", "department_reply_to", "enqueue", "joining", "thread_headers"]

log = logging.getLogger("plugdesk.outbox")
REFERENCES_MAX = 20
#: ``(ticket_id, message_id)`` of the ticket message whose event is being handled (:func:`about_message`).
_event_message: ContextVar[tuple[int, int] | None] = ContextVar("plugdesk_outbox_message", default=None)


@contextmanager
def about_message(ticket_id: int, message_id: int) -> Iterator[None]:
    """Inside this block (an event about one ticket message, e.g. ``ticket_replied``), mail queued for
    ``ticket_id`` records ``message_id`` as its ``ticket_message_id`` unless the sender names another."""
    token = _event_message.set((ticket_id, message_id))
    try:
        yield
    finally:
        _event_message.reset(token)


def enqueue(session: Session, settings: Settings, *, to: str = "", subject: str = "", text: str = "",
            to_name: str = "", html: str | None = None, kind: str = "mail", payload: Any = None,
            headers: Mapping[str, Any] | None = None, ticket_id: int | None = None, related: str = "",
            msg_id: str | None = None, auto: bool = True, now: datetime | None = None,
            ticket_message_id: int | None = None) -> OutboxMessage:
    """Add one message to ``session``; it is sent once the transaction commits.

    A ``mail`` row with an unusable recipient is stored as ``failed`` with the reason (shown on the Mail
    page) rather than raising, so the event that caused it still happens. Other kinds are rendered by the
    worker from ``payload`` (their recipient is checked then).
    """
    now = now or utcnow()
    domain = mail_domain(settings.get("mail", "sender"), settings.get("server", "base_url"))
    extra = {k: v for k, v in (headers or {}).items() if v}
    if auto:
        extra.setdefault("Auto-Submitted", "auto-generated")
        extra.setdefault("X-Auto-Response-Suppress", "All")
    row = OutboxMessage(kind=kind, state="queued", to_name=clean_header_text(to_name, 200),
                        subject=clean_header_text(subject, 300), headers=extra or None, text_body=text,
                        html_body=html, payload=payload, message_id=msg_id or message_id(domain),
                        ticket_id=ticket_id, ticket_message_id=ticket_message_id, related=related[:64],
                        attempts=0, created_at=now, updated_at=now,
                        next_attempt_at=now, deadline_at=now + timedelta(hours=settings.get("worker", "give_up_hours")),
                        to_addr=clean_header_text(to, 320))
    if kind == "mail":
        try:
            row.to_addr = check_address(to)
        except InvalidAddress as exc:
            row.state, row.last_error = "failed", f"not sent: {exc}"
            log.warning("outbox: message %s refused at queueing: %s", row.message_id, exc)
    session.add(row)
    return row


def thread_headers(session: Session, settings: Settings, secret: str, ticket_id: int) -> dict[str, Any]:
    """``Message-ID``-chaining headers for a new notification of ``ticket_id``: ``In-Reply-To`` the latest
    earlier notification (or the ticket's root id), ``References`` root + earlier ones (at most 20)."""
    domain = mail_domain(settings.get("mail", "sender"), settings.get("server", "base_url"))
    root = ticket_root_id(ticket_id, domain, secret)
    earlier = list(session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.ticket_id == ticket_id)
                                   .order_by(OutboxMessage.id.desc()).limit(REFERENCES_MAX - 1)))[::-1]
    refs = [root, *earlier]
    return {"In-Reply-To": refs[-1], "References": refs, "X-Plugdesk-Ticket": str(ticket_id)}


def department_reply_to(session: Session, ticket_id: int) -> tuple[str, str] | None:
    """The ticket's department name and address when the department has one (for ``Reply-To``)."""
    from core.tickets.models import Department, Ticket

    row = session.execute(select(Department.name, Department.email).join(Ticket, Ticket.department_id ==
                                                                         Department.id)
                          .where(Ticket.id == ticket_id)).first()
    if row is None or not row[1]:
        return None
    return row[0], row[1]


class OutboxMailer:
    """``ctx.mailer``: queues mail in the outbox (the worker sends it). Same call as the old SMTP mailer.

    ``send(to, subject, body)`` works as before; ``ticket_id`` adds the ticket's threading headers, the
    ``[#ID]`` subject tag and the department's ``Reply-To``; ``html`` replaces the HTML part core renders
    from ``body``.
    """

    def __init__(self, db: Database, settings: Settings, secret: str = "") -> None:
        self.db = db
        self.settings = settings
        self.secret = secret
        self.sender = settings.get("mail", "sender")

    def send(self, to: str, subject: str, body: str, *, html: str | None = None, to_name: str = "",
             ticket_id: int | None = None, related: str = "", auto: bool = True,
             ticket_message_id: int | None = None) -> int:
        """Queue one message; return its outbox id. Joins the current core transaction when there is one.

        :param ticket_message_id: the ticket message the mail is about; by default, inside the event of a
            message of ``ticket_id`` (:func:`about_message`), that message.
        :raises core.MailError: when the message could not be queued in a transaction of its own.
        """
        event = _event_message.get()
        if ticket_message_id is None and ticket_id is not None and event is not None and event[0] == ticket_id:
            ticket_message_id = event[1]
        args = (to, subject, body, html, to_name, ticket_id, related, auto, ticket_message_id)
        session = joined_session(self.db.engine)
        if session is not None:
            return self._add(session, *args)
        try:
            with self.db.session() as own:
                return self._add(own, *args)
        except SQLAlchemyError as exc:  # the database is unreachable: the caller decides (core.MailError)
            raise MailError(f"the message could not be queued: {exc.__class__.__name__}") from exc

    def _add(self, session: Session, to: str, subject: str, body: str, html: str | None, to_name: str,
             ticket_id: int | None, related: str, auto: bool, ticket_message_id: int | None) -> int:
        headers: dict[str, Any] = {}
        msg_id = None
        if ticket_id is not None:
            headers.update(thread_headers(session, self.settings, self.secret, ticket_id))
            reply_to = department_reply_to(session, ticket_id)
            if reply_to:
                headers["Reply-To"] = list(reply_to)
            subject = ticket_subject(ticket_id, subject)
            domain = mail_domain(self.sender, self.settings.get("server", "base_url"))
            msg_id = message_id(domain, prefix=f"ticket-{ticket_id}.")
            related = related or f"ticket:{ticket_id}"
        row = enqueue(session, self.settings, to=to, subject=subject, text=body, html=html, to_name=to_name,
                      headers=headers, ticket_id=ticket_id, related=related, msg_id=msg_id, auto=auto,
                      ticket_message_id=ticket_message_id)
        session.flush()
        return row.id
