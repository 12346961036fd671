"""Tickets, their messages and departments, and what a retention sweep reports.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class SweepReport:
    """What one retention plugin did (or would do, on a dry run), per department name. Mutable.

    Attributes:
        plugin: the reporting plugin's name (as in ``[plugins] enabled``).
        counts: per department name, the number of tickets per action, e.g.
            ``{"Support": {"closed": 3, "locked": 0, "deleted": 1}}``; shown by ``plugdesk retention run``.
        dry_run: ``True`` when nothing was changed and the counts are what a real run would do.
    """

    plugin: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class DepartmentInfo:
    """A department and its retention switches as plugins see it (``ctx.departments``).

    Each day count is ``None`` (the rule is off) or 1..36,500.

    :param id: the department's id.
    :param name: its unique name (retention reports are keyed by it).
    :param auto_close_days: close a ticket waiting for the customer (an agent spoke last) this many days
        after the agent's last reply.
    :param lock_after_days: lock a closed ticket this many days after it was closed (no more replies).
    :param delete_after_days: delete a closed ticket this many days after it was closed.
    :param public: whether customers can pick the department on the portal.
    """

    id: int
    name: str
    auto_close_days: int | None = None
    lock_after_days: int | None = None
    delete_after_days: int | None = None
    public: bool = True

    @property
    def has_retention(self) -> bool:
        """Whether at least one retention rule is on."""
        return any(d is not None for d in (self.auto_close_days, self.lock_after_days, self.delete_after_days))


@dataclass(frozen=True)
class TicketInfo:
    """A ticket as plugins see it (never an ORM object). ``customer_email`` is the guest's or the account's.

    Timestamps are aware datetimes in UTC.

    Attributes:
        id: the ticket number.
        subject: the subject line as plain text.
        department_id: the id of the ticket's department.
        department_name: that department's name.
        status: ``"open"`` (the customer spoke last), ``"waiting"`` (an agent spoke last) or ``"closed"``
            (a :class:`TicketStatus` value).
        locked: a locked ticket takes no more replies (retention locks closed tickets after a while).
        customer_id: the customer's account id; ``None`` for a guest's ticket.
        customer_email: where replies to the customer go: the guest's address or the account's.
        assignee_id: the agent it is assigned to, or ``None``.
        created_at: when it was submitted.
        closed_at: when it was last closed; ``None`` while not closed.
        locked_at: when it was locked; ``None`` while not locked.
    """

    id: int
    subject: str
    department_id: int
    department_name: str
    status: str
    locked: bool
    customer_id: int | None
    customer_email: str
    assignee_id: int | None
    created_at: datetime
    closed_at: datetime | None
    locked_at: datetime | None


@dataclass(frozen=True)
class TicketMessageInfo:
    """One message as plugins see it. ``internal`` notes must never reach customers.

    Attributes:
        id: the message's id.
        ticket_id: the ticket it belongs to (:attr:`TicketInfo.id`).
        author_id: the writer's account id; ``None`` for a guest (or when the account was deleted).
        author_name: the writer's display name at the time of writing.
        from_agent: ``True`` when staff wrote it, ``False`` for the customer.
        internal: an internal note between agents: never send it, quote it or show it to the customer.
        body: the text as written, plain text (not HTML).
        created_at: when it was written (aware datetime, UTC).
    """

    id: int
    ticket_id: int
    author_id: int | None
    author_name: str
    from_agent: bool
    internal: bool
    body: str
    created_at: datetime
