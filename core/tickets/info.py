"""Read-only ticket snapshots handed to plugins, and the lifecycle events core fires with them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

# The value types live in core.types (the plugin contract); kept importable from here.
from core.types import TicketInfo as TicketInfo
from core.types import TicketMessageInfo as TicketMessageInfo

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.tickets.models import Ticket, TicketMessage


def ticket_infos(session: Session, ids: Iterable[int]) -> list[TicketInfo]:
    """Snapshots of the given tickets (one query, in id order)."""
    from core.models import User
    from core.tickets.models import Department, Ticket

    ids = list(ids)
    if not ids:
        return []
    rows = session.execute(
        select(Ticket, Department.name, User.email).join(Department, Department.id == Ticket.department_id)
        .outerjoin(User, User.id == Ticket.customer_id).where(Ticket.id.in_(ids)).order_by(Ticket.id))
    return [to_info(t, name, email) for t, name, email in rows]


def to_info(t: Ticket, department_name: str, account_email: str | None) -> TicketInfo:
    """Build a :class:`TicketInfo` from a row."""
    return TicketInfo(id=t.id, subject=t.subject, department_id=t.department_id, department_name=department_name,
                      status=t.status, locked=t.locked, customer_id=t.customer_id,
                      customer_email=t.guest_email or account_email or "", assignee_id=t.assignee_id,
                      created_at=t.created_at, closed_at=t.closed_at, locked_at=t.locked_at)


def message_info(m: TicketMessage) -> TicketMessageInfo:
    """Build a :class:`TicketMessageInfo` from a row."""
    return TicketMessageInfo(id=m.id, ticket_id=m.ticket_id, author_id=m.author_id, author_name=m.author_name,
                             from_agent=m.from_agent, internal=m.internal, body=m.body, created_at=m.created_at)


# The app whose plugins receive events for work done outside a request (a retention sweep). Set by core
# around the sweep; a ContextVar, so concurrent sweeps of different apps in one process never mix.
_current: ContextVar[AppState | None] = ContextVar("plugdesk_ticket_events", default=None)


@contextmanager
def events_for(state: AppState) -> Iterator[None]:
    """Route ticket events raised by core's bulk operations inside this block to ``state``'s plugins."""
    token = _current.set(state)
    try:
        yield
    finally:
        _current.reset(token)


def current_state() -> AppState | None:
    """The app set by :func:`events_for`, if any."""
    return _current.get()


def listeners(state: AppState | None, hook: str) -> bool:
    """Tell whether any enabled plugin implements ``hook`` (so snapshots are only built when needed)."""
    return state is not None and bool(state.host.implementers(hook))


def emit(state: AppState | None, hook: str, **kwargs: Any) -> None:
    """Fire a ticket lifecycle hook on every plugin; failures are logged, never raised.

    An event about one ticket message (``ticket`` and ``message`` given, e.g. ``ticket_replied``) makes the
    mail its plugins queue for that ticket record the message (``mail_outbox.ticket_message_id``).
    """
    if state is None:
        return
    ticket, message = kwargs.get("ticket"), kwargs.get("message")
    if isinstance(ticket, TicketInfo) and isinstance(message, TicketMessageInfo):
        from core.outbox.service import about_message

        with about_message(ticket.id, message.id):
            state.host.notify(hook, ctx=state.ctx, **kwargs)
        return
    state.host.notify(hook, ctx=state.ctx, **kwargs)
