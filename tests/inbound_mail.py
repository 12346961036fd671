"""Shared helpers for email-to-ticket tests: build messages, an in-memory mail source, an app with a department."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from core import InboundMessage, MailSource

DEPARTMENT = "General"


def message(sender: str = "alice@example.com", subject: str = "Printer on fire", body: str = "Please help.",
            *, to: str = "support@help.example", msgid: str | None = None, in_reply_to: str | None = None,
            references: list[str] | None = None, html: str | None = None,
            attachments: Sequence[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None) -> bytes:
    """An RFC 5322 message as bytes (``attachments``: ``(filename, content type, data)``)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = msgid or make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


class MemorySource(MailSource):
    """A mail source over a list (for tests without a server): ``deliver(raw)``, then poll."""

    def __init__(self, name: str = "memory", department: str = DEPARTMENT, address: str = "support@help.example",
                 accept_from: str = "anyone") -> None:
        self.name = name
        self.department = department
        self.address = address
        self.accept_from = accept_from
        self.poll_seconds = 5
        self.pending: dict[str, bytes] = {}
        self.acked: list[str] = []
        self._next = 0

    def deliver(self, raw: bytes, uid: str | None = None) -> str:
        """Put a message in the mailbox; its uid."""
        self._next += 1
        uid = uid or str(self._next)
        self.pending[uid] = raw
        return uid

    def fetch(self, limit: int, max_bytes: int) -> Iterator[InboundMessage]:
        """Unacknowledged messages in delivery order (headers only above ``max_bytes``)."""
        for uid, raw in list(self.pending.items())[:limit]:
            if len(raw) > max_bytes:
                yield InboundMessage(uid=uid, raw=raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", size=len(raw),
                                     truncated=True)
            else:
                yield InboundMessage(uid=uid, raw=raw, size=len(raw))

    def ack(self, uid: str) -> None:
        """Remove the message (idempotent)."""
        self.pending.pop(uid, None)
        self.acked.append(uid)


def add_department(app: Any, name: str = DEPARTMENT, agents: Sequence[int] = ()) -> int:
    """Create a department (and assign agents); its id."""
    from core.tickets.models import Department, DepartmentAgent

    with app.extensions["plugdesk"].db.session() as s:
        dept = Department(name=name, email="support@help.example")
        s.add(dept)
        s.flush()
        for agent in agents:
            s.add(DepartmentAgent(department_id=dept.id, user_id=agent))
        return dept.id


def tickets(app: Any) -> list[dict[str, Any]]:
    """Every ticket with its messages (internal notes included) as plain dicts, oldest first."""
    from sqlalchemy import select

    from core.tickets.attachments import attachments_of
    from core.tickets.models import Ticket, TicketMessage

    out = []
    with app.extensions["plugdesk"].db.session() as s:
        for t in s.scalars(select(Ticket).order_by(Ticket.id)):
            msgs = list(s.scalars(select(TicketMessage).where(TicketMessage.ticket_id == t.id)
                                  .order_by(TicketMessage.id)))
            files = attachments_of(s, [m.id for m in msgs])
            out.append({"id": t.id, "subject": t.subject, "customer_id": t.customer_id, "guest": t.guest_email,
                        "status": t.status, "locked": t.locked,
                        "messages": [{"id": m.id, "body": m.body, "author": m.author_name, "agent": m.from_agent,
                                      "internal": m.internal, "files": [f["filename"] for f in files.get(m.id, [])]}
                                     for m in msgs]})
    return out


def outcomes(app: Any) -> list[tuple[str, str]]:
    """``(outcome, reason)`` of every ingested email, in order."""
    from sqlalchemy import select

    from core.inbound.models import InboundMail

    with app.extensions["plugdesk"].db.session() as s:
        return [(r.outcome, r.reason) for r in s.scalars(select(InboundMail).order_by(InboundMail.id))]
