"""``notify_email``: email the customer when an agent replies to their ticket (never for internal notes).

Mail goes through ``ctx.mail`` (core's outbox and ``[mail] url``); only the public contract is used.
"""

from __future__ import annotations

from core import MailError, PluginContext, TicketInfo, TicketMessageInfo, hookimpl

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "notify_email"


def compose(ticket: TicketInfo, message: TicketMessageInfo, base_url: str) -> tuple[str, str]:
    """Subject and plain-text body of the notification."""
    link = f"{base_url.rstrip('/')}/tickets/{ticket.id}"
    subject = f"[#{ticket.id}] Re: {ticket.subject}"
    body = (f"{message.author_name} replied to your ticket #{ticket.id} ({ticket.department_name}):\n\n"
            f"{message.body}\n\n-- \nFollow or answer it at {link}\n")
    return subject, body


@hookimpl
def ticket_replied(ticket: TicketInfo, message: TicketMessageInfo, ctx: PluginContext) -> None:
    """Send the agent's reply to the customer's address (guest or account)."""
    if not message.from_agent or message.internal or not ticket.customer_email:
        return
    subject, body = compose(ticket, message, ctx.settings.get("server", "base_url"))
    try:
        ctx.mail.send(ticket.customer_email, subject, body, ticket_id=ticket.id, ticket_message_id=message.id)
    except MailError as exc:
        ctx.log(NAME).warning("could not notify the customer of ticket #%s: %s", ticket.id, exc)
