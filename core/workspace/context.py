"""What the agent's conversation view shows next to the messages: the customer and their other tickets,
the next ticket to work on, canned responses for this ticket, and the history in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import User
from core.tickets.models import Department, Ticket, TicketEvent
from core.workspace import canned

OTHER_TICKETS = 10


@dataclass(frozen=True)
class HistoryLine:
    """One event of a ticket, as a sentence (``text``), with its time and raw ``kind``."""

    at: datetime
    kind: str
    text: str


def _name(value: Any, names: dict[int, str], missing: str) -> str:
    if value in (None, "", 0):
        return missing
    return names.get(value, f"#{value}") if isinstance(value, int) else str(value)


def describe(event: TicketEvent, departments: dict[int, str], people: dict[int, str]) -> str:
    """A sentence for one history event: "Moved from Sales to Billing by ana", never raw JSON."""
    d = event.detail if isinstance(event.detail, dict) else {}
    who = event.actor or "someone"
    if who == "retention":
        who = "the retention rules"
    days = f" after {d['days']} days" if isinstance(d.get("days"), int) else ""
    texts = {
        "created": f"Opened in {d.get('department') or 'a department'} by {who}",
        "replied": f"Reply by {who}",
        "note": f"Internal note by {who}",
        "reopened": f"Reopened ({d.get('from', '?')} → {d.get('to', '?')}) by {who}",
        "status": f"Status changed from {d.get('from', '?')} to {d.get('to', '?')} by {who}",
        "moved": (f"Moved from {_name(d.get('from'), departments, 'another department')} to "
                  f"{_name(d.get('to'), departments, 'another department')} by {who}"),
        "assigned": (f"Assigned to {_name(d.get('to'), people, 'nobody')} by {who}" if d.get("to")
                     else f"Unassigned (was {_name(d.get('from'), people, 'nobody')}) by {who}"),
        "auto_closed": f"Closed automatically{days}: no answer from the customer",
        "locked": f"Locked{days}: no more replies",
    }
    return texts.get(event.kind, f"{event.kind.replace('_', ' ').capitalize()} by {who}")


def history(session: Session, ticket_id: int) -> list[HistoryLine]:
    """The ticket's events as sentences, oldest first."""
    events = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                  .order_by(TicketEvent.id)))
    dept_ids: set[int] = set()
    user_ids: set[int] = set()
    for e in events:
        d = e.detail if isinstance(e.detail, dict) else {}
        (dept_ids if e.kind == "moved" else user_ids if e.kind == "assigned" else set()).update(
            v for v in (d.get("from"), d.get("to")) if isinstance(v, int))
    departments = dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(dept_ids))).all())
    people = {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    return [HistoryLine(e.at, e.kind, describe(e, departments, people)) for e in events]


def next_ticket(session: Session, ticket: Ticket, departments: set[int] | None) -> int | None:
    """The open ticket waiting longest in the agent's departments, other than this one."""
    stmt = select(Ticket.id).where(Ticket.status == "open", Ticket.id != ticket.id)
    if departments is not None:
        stmt = stmt.where(Ticket.department_id.in_(departments))
    return session.scalar(stmt.order_by(Ticket.updated_at.asc(), Ticket.id.asc()).limit(1))


def other_tickets(session: Session, ticket: Ticket, departments: set[int] | None) -> list[Ticket]:
    """The same customer's (or guest address's) other tickets in the agent's departments, newest first."""
    stmt = select(Ticket).where(Ticket.id != ticket.id)
    if departments is not None:
        stmt = stmt.where(Ticket.department_id.in_(departments))
    if ticket.customer_id:
        stmt = stmt.where(Ticket.customer_id == ticket.customer_id)
    elif ticket.guest_email:
        stmt = stmt.where(Ticket.customer_id.is_(None), Ticket.guest_email == ticket.guest_email)
    else:
        return []
    return list(session.scalars(stmt.order_by(Ticket.updated_at.desc()).limit(OTHER_TICKETS)))


def workspace_context(session: Session, ticket: Ticket, agent: User, departments: set[int] | None) -> dict[str, Any]:
    """Template values of the conversation view (``departments``: the agent's, ``None`` = all)."""
    customer = session.get(User, ticket.customer_id) if ticket.customer_id else None
    department = session.get(Department, ticket.department_id)
    values = {
        "customer_name": (customer.display_name or customer.username) if customer else ticket.guest_email,
        "customer_email": customer.email if customer else ticket.guest_email,
        "ticket_id": str(ticket.id), "ticket_subject": ticket.subject,
        "department": department.name if department else "",
        "agent_name": agent.display_name or agent.username,
    }
    return {"customer": customer, "department": department,
            "other_tickets": other_tickets(session, ticket, departments),
            "next_id": next_ticket(session, ticket, departments), "history": history(session, ticket.id),
            "canned": canned.filled_for(session, ticket.department_id, values)}
