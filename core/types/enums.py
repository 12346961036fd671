"""Roles and statuses, spelled once (string enums whose values are the stored strings).

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """An account's role, weakest first; each role may do everything the roles before it may.

    Members are strings (``Role.AGENT == "agent"``), so stored values and plugin code comparing with
    ``"agent"`` keep working.

    Attributes:
        USER: a customer: the portal, their own tickets, the KB and the community.
        AGENT: staff who work the tickets of their departments and moderate the community.
        MANAGER: an agent who also sees every department's tickets, deletes tickets and manages departments.
        ADMIN: everything, including settings, users and plugins.
    """

    USER = "user"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for ``user`` up to 3 for ``admin``."""
        return list(Role).index(self)

    @property
    def is_staff(self) -> bool:
        """Agents, managers and admins (everyone who works tickets)."""
        return self is not Role.USER

    @classmethod
    def at_least(cls, role: str) -> tuple[Role, ...]:
        """``role`` and the roles above it: ``Role.at_least("agent")`` is agent, manager, admin."""
        floor = cls(role).rank
        return tuple(r for r in cls if r.rank >= floor)


class TicketStatus(enum.StrEnum):
    """A ticket's status (:attr:`TicketInfo.status`).

    Attributes:
        OPEN: the customer spoke last; the ticket waits for an agent.
        WAITING: an agent spoke last; the ticket waits for the customer (retention may auto-close it).
        CLOSED: closed by a person or by retention; a reply by the customer reopens it unless it is locked.
    """

    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


class PostStatus(enum.StrEnum):
    """A community post's status, from the combined moderation votes (:class:`VerdictAction`).

    Attributes:
        PUBLISHED: visible to everyone (allowed, or approved by a moderator).
        PENDING: held for a moderator; only its author and moderators see it.
        REJECTED: refused by a rule or a moderator; never shown to readers.
    """

    PUBLISHED = "published"
    PENDING = "pending"
    REJECTED = "rejected"
