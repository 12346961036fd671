"""Which ticket an email answers, and who its sender is.

* Headers first: ``In-Reply-To`` and ``References`` against the Message-IDs of the ticket's notifications
  (the outbox), the ticket's signed root id, and earlier emails of the same ticket. These ids are random or
  signed, so a stranger cannot guess them.
* Then a ``[#ID]`` subject token - accepted only when the sender is that ticket's customer or an agent of its
  department (managers and admins work in every department). Anything else opens a new ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.auth.sessions import ROLE_RANK
from core.inbound.models import InboundMail
from core.inbound.parse import ParsedMail
from core.inbound.rules import ticket_tokens
from core.models import User
from core.outbox.models import OutboxMessage
from core.tickets.models import DepartmentAgent, Ticket
from core.users import AccountError, normalize_email

_ROOT = re.compile(r"^<ticket-(\d{1,10})\.([0-9a-f]{16})@[^>]+>$")


@dataclass
class Target:
    """The ticket an email answers: ``ticket`` is ``None`` when ``ticket_id`` no longer exists (deleted)."""

    ticket_id: int
    ticket: Ticket | None
    via: str  # "headers" | "subject token"


def email_key(address: str) -> str:
    """The lookup key of an address (as accounts store it), or ``""`` when it is not a valid address."""
    try:
        return normalize_email(address)[1]
    except AccountError:
        return ""


def find_user(session: Session, address: str) -> User | None:
    """The account that owns ``address``, if any."""
    key = email_key(address)
    return session.scalar(select(User).where(User.email_key == key)) if key else None


def is_department_agent(session: Session, user: User | None, department_id: int) -> bool:
    """Managers and admins, or an agent assigned to the department."""
    if user is None or not user.is_active:
        return False
    rank = ROLE_RANK.get(user.role, -1)
    if rank >= ROLE_RANK["manager"]:
        return True
    return rank >= ROLE_RANK["agent"] and bool(session.scalar(select(exists().where(
        DepartmentAgent.user_id == user.id, DepartmentAgent.department_id == department_id))))


def is_customer(session: Session, ticket: Ticket, address: str) -> bool:
    """Whether ``address`` is the ticket's customer (the account's address or the guest's)."""
    key = email_key(address)
    if not key:
        return False
    if ticket.guest_email and email_key(ticket.guest_email) == key:
        return True
    if ticket.customer_id is None:
        return False
    return session.scalar(select(User.email_key).where(User.id == ticket.customer_id)) == key


def _signed_root(mid: str, secret: str) -> int | None:
    found = _ROOT.match(mid)
    if not found:
        return None
    ticket_id = int(found.group(1))
    sig = hmac.new(secret.encode(), f"ticket:{ticket_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return ticket_id if hmac.compare_digest(sig, found.group(2)) else None


def by_headers(session: Session, mail: ParsedMail, secret: str) -> int | None:
    """The ticket id the reference headers point at (newest reference first), or ``None``."""
    ids = list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))[:60]
    if not ids:
        return None
    known = dict(session.execute(select(OutboxMessage.message_id, OutboxMessage.ticket_id).where(
        OutboxMessage.message_id.in_(ids), OutboxMessage.ticket_id.is_not(None))).all())
    earlier = dict(session.execute(select(InboundMail.message_id, InboundMail.ticket_id).where(
        InboundMail.message_id.in_(ids), InboundMail.ticket_id.is_not(None))).all())
    for mid in ids:
        ticket_id = known.get(mid) or earlier.get(mid) or _signed_root(mid, secret)
        if ticket_id:
            return int(ticket_id)
    return None


def find_target(session: Session, mail: ParsedMail, secret: str) -> Target | None:
    """The ticket ``mail`` answers, by headers or by an accepted ``[#ID]`` token; ``None`` for a new ticket."""
    ticket_id = by_headers(session, mail, secret)
    if ticket_id is not None:
        return Target(ticket_id, session.get(Ticket, ticket_id), "headers")
    numbers = ticket_tokens(mail.subject)[:5]
    sender = find_user(session, mail.sender) if numbers else None
    for number in numbers:
        ticket = session.get(Ticket, number)
        if ticket is None:
            continue
        if is_customer(session, ticket, mail.sender) or is_department_agent(session, sender, ticket.department_id):
            return Target(number, ticket, "subject token")
    return None
