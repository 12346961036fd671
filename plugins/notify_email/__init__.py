"""``notify_email``: email the customer when an agent replies to their ticket (never for internal notes).

Mail goes through ``[mail] url`` (SMTP, or ``.eml`` files in DATA_DIR/outbox when unset).
"""

from __future__ import annotations

from typing import Any

from core import hookimpl
from core.mail import MailError

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "notify_email"


def compose(ticket: Any, message: Any, base_url: str) -> tuple[str, str]:
    """Subject and plain-text body of the notification."""
    link = f"{base_url.rstrip('/')}/tickets/{ticket.id}"
    subject = f"[#{ticket.id}] Re: {ticket.subject}"
    body = (f"{message.author_name} replied to your ticket #{ticket.id} ({ticket.department_name}):\n\n"
            f"{message.body}\n\n-- \nFollow or answer it at {link}\n")
    return subject, body


@hookimpl
def ticket_replied(ticket: Any, message: Any, ctx: Any) -> None:
    """Send the agent's reply to the customer's address (guest or account)."""
    if not message.from_agent or message.internal or not ticket.customer_email:
        return
    subject, body = compose(ticket, message, ctx.settings.get("server", "base_url"))
    try:
        ctx.mailer.send(ticket.customer_email, subject, body)
    except MailError as exc:
        ctx.log(NAME).warning("could not notify the customer of ticket #%s: %s", ticket.id, exc)
