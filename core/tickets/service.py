"""Ticket rules shared by the portal, the management interface and the API: who sees what, what may change."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.auth.sessions import has_role
from core.auth.verification import verified_email_required
from core.models import AuditEntry, User, utcnow
from core.outbox.compose import one_line
from core.outbox.service import joining
from core.tickets import attachments
from core.tickets.info import emit, message_info, ticket_infos
from core.tickets.models import STATUSES, Department, DepartmentAgent, Ticket, TicketEvent, TicketMessage
from core.types import Role, TicketStatus
from core.users import AccountError, normalize_email, to_info

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState

SUBJECT_MAX = 200
BODY_MAX = 50_000


class TicketProblem(Exception):
    """A refused ticket action: ``status`` (HTTP), a message for the user, optionally the form ``field``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with a ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def is_staff(user: User | None) -> bool:
    """Agents, managers and admins."""
    return has_role(user, Role.AGENT)


def staff_departments(session: Session, user: User | None) -> set[int] | None:
    """Department ids an agent works in; ``None`` means all (managers and admins); empty for customers."""
    if has_role(user, Role.MANAGER):
        return None
    if not is_staff(user):
        return set()
    assert user is not None
    return set(session.scalars(select(DepartmentAgent.department_id).where(DepartmentAgent.user_id == user.id)))


def can_view(session: Session, user: User | None, ticket: Ticket) -> bool:
    """The customer who opened it, or staff of its department."""
    if user is None:
        return False
    if ticket.customer_id == user.id:
        return True
    depts = staff_departments(session, user)
    return depts is None or ticket.department_id in depts


def works_on(session: Session, user: User | None, ticket: Ticket) -> bool:
    """Staff of the ticket's department (may answer, note, change)."""
    depts = staff_departments(session, user)
    return is_staff(user) and (depts is None or ticket.department_id in depts)


def visible_ticket(session: Session, user: User | None, ticket_id: int) -> Ticket:
    """The ticket if ``user`` may see it; 404 otherwise (no hint whether it exists)."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not can_view(session, user, ticket):
        raise TicketProblem(404, "There is no ticket with this number, or it is not yours.")
    return ticket


def submittable_departments(session: Session, user: User | None) -> list[Department]:
    """Public departments, plus the agents-only departments of the staff member."""
    depts = staff_departments(session, user)
    stmt = select(Department).order_by(Department.name)
    return [d for d in session.scalars(stmt) if d.public or (is_staff(user) and (depts is None or d.id in depts))]


def _history(session: Session, ticket_id: int, actor: str, kind: str, detail: dict[str, Any] | None = None) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, at=utcnow(), actor=actor, kind=kind, detail=detail))


def _check_text(subject: str | None, body: str) -> None:
    if subject is not None:
        if not subject.strip():
            raise TicketProblem(422, "Enter a subject.", "subject")
        if len(subject.strip()) > SUBJECT_MAX:
            raise TicketProblem(422, f"The subject may have at most {SUBJECT_MAX} characters.", "subject")
    if not body.strip():
        raise TicketProblem(422, "Enter a message.", "body")
    if len(body) > BODY_MAX:
        raise TicketProblem(422, f"The message may have at most {BODY_MAX:,} characters.", "body")


@contextmanager
def _staged(uploads: Sequence[Any], role: str) -> Iterator[Any]:
    """Stage uploads before the write transaction; turn refusals into :class:`TicketProblem`."""
    try:
        with attachments.staged(uploads, role) as batch:
            yield batch
    except attachments.AttachmentRefused as exc:
        raise TicketProblem(exc.status, str(exc), "files") from None


def _target_department(s: Session, user: User | None, department_id: Any) -> Department:
    """The department ``user`` may open a ticket in; :class:`TicketProblem` (403/422) otherwise."""
    dept = s.get(Department, department_id) if isinstance(department_id, int) else None
    allowed = {d.id for d in submittable_departments(s, user)}
    if dept is None or dept.id not in allowed:
        if dept is not None and not dept.public:
            raise TicketProblem(403, "This department only takes tickets from its agents.", "department_id")
        raise TicketProblem(422, "Choose one of the listed departments.", "department_id")
    return dept


def _reply_target(s: Session, user: User, ticket_id: int, internal: bool) -> tuple[Ticket, bool]:
    """The ticket ``user`` may reply to (and whether as its staff); :class:`TicketProblem` otherwise."""
    ticket = visible_ticket(s, user, ticket_id)
    staff = works_on(s, user, ticket)
    if internal and not staff:
        raise TicketProblem(403, "Only agents of this department can add internal notes.")
    if ticket.locked and not internal:
        when = ticket.locked_at.strftime("%Y-%m-%d") if ticket.locked_at else "earlier"
        raise TicketProblem(403, f"This ticket was locked on {when} and no longer accepts replies. "
                                 "Please open a new ticket.")
    return ticket, staff


def create_ticket(state: AppState, *, user: User | None, department_id: Any, subject: str, body: str,
                  guest_email: str = "", uploads: Sequence[Any] = ()) -> int:
    """Open a ticket with its first message; fire ``ticket_created``. Guests need ``tickets.allow_guests``.

    The subject is kept on one line (control characters and line breaks become spaces): it goes into
    notification headers.
    """
    subject = one_line(subject)
    _check_text(subject, body)
    unverified = verified_email_required(state, to_info(user) if user else None)
    if unverified:
        raise TicketProblem(403, unverified)
    email = ""
    if user is None:
        if not state.runtime.get("tickets.allow_guests"):
            raise TicketProblem(403, "Log in to submit a ticket.")
        try:
            email, _key = normalize_email(guest_email)
        except AccountError as exc:
            raise TicketProblem(422, exc.message, "email") from None
    if uploads:  # refuse before any byte is stored (checked again in the write transaction)
        with state.db.session() as s:
            _target_department(s, user, department_id)
    with _staged(uploads, user.role if user else "user") as batch, state.db.session() as s:
        dept = _target_department(s, user, department_id)
        now = utcnow()
        ticket = Ticket(subject=subject.strip(), department_id=dept.id, customer_id=user.id if user else None,
                        guest_email=email, status=TicketStatus.OPEN, locked=False, created_at=now, updated_at=now,
                        last_customer_reply_at=now)
        s.add(ticket)
        s.flush()
        actor = user.username if user else f"guest:{email}"
        msg = TicketMessage(ticket_id=ticket.id, author_id=user.id if user else None,
                            author_name=(user.display_name or user.username) if user else email,
                            from_agent=False, internal=False, body=body, created_at=now)
        s.add(msg)
        s.flush()
        attachments.attach(s, batch, msg.id)
        _history(s, ticket.id, actor, "created", {"department": dept.name})
        ticket_id, message = ticket.id, message_info(msg)
    with state.db.session() as s:
        emit(state, "ticket_created", ticket=ticket_infos(s, [ticket_id])[0], message=message)
    return ticket_id


def reply(state: AppState, ticket_id: int, user: User, body: str, *, internal: bool = False,
          uploads: Sequence[Any] = ()) -> int:
    """Add a reply (or an internal note, staff only); update status and timestamps; fire ``ticket_replied``.

    Customers' replies reopen a closed ticket; locked tickets take no more replies (403 with the reason).
    """
    _check_text(None, body)
    if uploads:  # a stranger's files are refused before any byte is stored (checked again below)
        with state.db.session() as s:
            _reply_target(s, user, ticket_id, internal)
    with _staged(uploads, user.role) as batch, state.db.session() as s:
        ticket, staff = _reply_target(s, user, ticket_id, internal)
        now = utcnow()
        msg = TicketMessage(ticket_id=ticket.id, author_id=user.id, author_name=user.display_name or user.username,
                            from_agent=staff, internal=internal, body=body, created_at=now)
        s.add(msg)
        s.flush()
        attachments.attach(s, batch, msg.id)
        old = ticket.status
        if not internal:
            if staff:
                ticket.status, ticket.last_agent_reply_at = TicketStatus.WAITING, now
            else:
                ticket.status, ticket.last_customer_reply_at = TicketStatus.OPEN, now
            if old == TicketStatus.CLOSED:
                ticket.closed_at = None
                _history(s, ticket.id, user.username, "reopened", {"from": old, "to": ticket.status})
        ticket.updated_at = now
        _history(s, ticket.id, user.username, "note" if internal else "replied", {"message_id": msg.id})
        message = message_info(msg)
        s.flush()
        with joining(s):  # mail queued by the event's plugins commits (or not) with the reply itself
            emit(state, "ticket_replied", ticket=ticket_infos(s, [ticket_id])[0], message=message)
    return message.id


@dataclass
class Changes:
    """Requested changes to a ticket (``None`` = leave as is; ``assignee_id=0`` unassigns)."""

    status: str | None = None
    department_id: int | None = None
    assignee_id: int | None = None


def update_ticket(state: AppState, ticket_id: int, user: User, changes: Changes) -> None:
    """Change status, department or assignee. Customers may only close their own ticket."""
    closed = False
    with state.db.session() as s:
        ticket = visible_ticket(s, user, ticket_id)
        staff = works_on(s, user, ticket)
        if not staff and (changes.department_id is not None or changes.assignee_id is not None
                          or changes.status not in (None, TicketStatus.CLOSED)):
            raise TicketProblem(403, "You can only close your own ticket.")
        now = utcnow()
        if changes.status is not None and changes.status != ticket.status:
            if changes.status not in STATUSES:
                raise TicketProblem(422, f"Status must be one of {', '.join(STATUSES)}.", "status")
            if ticket.locked and changes.status != TicketStatus.CLOSED:
                raise TicketProblem(403, "This ticket is locked; it cannot be reopened.")
            _history(s, ticket.id, user.username, "status", {"from": ticket.status, "to": changes.status})
            ticket.status = changes.status
            ticket.closed_at = now if changes.status == TicketStatus.CLOSED else None
            closed = changes.status == TicketStatus.CLOSED
        if changes.department_id is not None and changes.department_id != ticket.department_id:
            target = s.get(Department, changes.department_id)
            allowed = staff_departments(s, user)
            if target is None or (allowed is not None and target.id not in allowed):
                raise TicketProblem(422, "Choose one of your departments.", "department_id")
            _history(s, ticket.id, user.username, "moved", {"from": ticket.department_id, "to": target.id})
            ticket.department_id = target.id
        if changes.assignee_id is not None and changes.assignee_id != (ticket.assignee_id or 0):
            if changes.assignee_id:
                agent = s.get(User, changes.assignee_id)
                if agent is None or not is_staff(agent):
                    raise TicketProblem(422, "Choose an agent.", "assignee_id")
            _history(s, ticket.id, user.username, "assigned",
                     {"from": ticket.assignee_id, "to": changes.assignee_id or None})
            ticket.assignee_id = changes.assignee_id or None
        ticket.updated_at = now
    if closed:
        with state.db.session() as s:
            emit(state, "ticket_closed", ticket=ticket_infos(s, [ticket_id])[0], actor=user.username)


def delete_ticket(state: AppState, ticket_id: int, user: User, ip: str = "") -> None:
    """Delete a ticket with its messages, history and attachment references (managers and admins)."""
    with state.db.session() as s:
        ticket = visible_ticket(s, user, ticket_id)
        if not has_role(user, Role.MANAGER):
            raise TicketProblem(403, "Only managers and administrators can delete tickets.")
        info = ticket_infos(s, [ticket.id])[0]
        attachments.drop_for_tickets(state, s, [ticket.id])
        s.execute(delete(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
        s.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
        s.execute(delete(Ticket).where(Ticket.id == ticket.id))
        s.add(AuditEntry(actor=user.username, ip=ip, action="ticket.delete", target=f"ticket:{info.id}",
                         old={"subject": info.subject, "department": info.department_name, "status": info.status},
                         new=None))
    emit(state, "ticket_deleted", ticket=info, actor=user.username)


def ticket_json(session: Session, ticket: Ticket, viewer: User) -> dict[str, Any]:
    """The API shape of a ticket; customers never see internal notes."""
    staff = works_on(session, viewer, ticket)
    stmt = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id).order_by(TicketMessage.id)
    if not staff:
        stmt = stmt.where(TicketMessage.internal.is_(False))
    messages = list(session.scalars(stmt))
    files = attachments.attachments_of(session, [m.id for m in messages])
    return {
        "id": ticket.id, "subject": ticket.subject, "department_id": ticket.department_id,
        "status": ticket.status, "locked": ticket.locked, "customer_id": ticket.customer_id,
        "guest_email": ticket.guest_email or None, "assignee_id": ticket.assignee_id,
        "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "last_customer_reply_at": iso(ticket.last_customer_reply_at),
        "last_agent_reply_at": iso(ticket.last_agent_reply_at),
        "closed_at": iso(ticket.closed_at), "locked_at": iso(ticket.locked_at),
        "messages": [{"id": m.id, "body": m.body, "author": m.author_name, "from_agent": m.from_agent,
                      "internal": m.internal, "created_at": iso(m.created_at), "attachments": files.get(m.id, [])}
                     for m in messages],
    }
