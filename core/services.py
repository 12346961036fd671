"""Services a plugin reaches through ``ctx`` (documented in ``docs/hooks.md``), so policies need no core internals.

* ``ctx.departments`` - :class:`Departments`: departments and their retention switches (read-only).
* ``ctx.tickets`` - :class:`TicketOperations`: set-based close / lock / delete operations that core performs
  (batched, idempotent, audited, safe on several nodes; each returns a count and has a ``dry_run``).
* ``ctx.passwords`` - :class:`Passwords`: core's password hasher (argon2id), for plugins that keep passwords.

Mail (``ctx.mail``) is :class:`core.context.PluginMail`; users and credentials are
:class:`core.users.UserDirectory` and :class:`core.users.CredentialStore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from core.types import DepartmentInfo

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.db import Database
    from core.tickets.models import Department

#: Tickets per transaction unless a call says otherwise.
DEFAULT_BATCH = 10_000
MAX_BATCH = 100_000


def _info(d: Department) -> DepartmentInfo:
    return DepartmentInfo(id=d.id, name=d.name, auto_close_days=d.auto_close_days,
                          lock_after_days=d.lock_after_days, delete_after_days=d.delete_after_days,
                          public=d.public)


class Departments:
    """``ctx.departments``: read departments and their retention settings (managers edit them in core)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def list(self, *, with_retention: bool = False) -> list[DepartmentInfo]:
        """Every department in id order.

        :param with_retention: only departments with at least one retention rule on.
        """
        from core.tickets.models import Department

        stmt = select(Department).order_by(Department.id)
        if with_retention:
            stmt = stmt.where(or_(Department.auto_close_days.is_not(None), Department.lock_after_days.is_not(None),
                                  Department.delete_after_days.is_not(None)))
        with self._db.session() as s:
            return [_info(d) for d in s.scalars(stmt)]

    def get(self, department_id: int) -> DepartmentInfo | None:
        """One department, or ``None`` when there is no such id."""
        from core.tickets.models import Department

        with self._db.session() as s:
            d = s.get(Department, department_id)
            return _info(d) if d is not None else None


class TicketOperations:
    """``ctx.tickets``: set-based ticket operations for policies such as retention.

    Every operation works on one department's tickets whose reference time is older than ``before``:

    * it runs in batches of ``batch`` tickets, one transaction each; a guarded update claims exactly the
      tickets that still qualify, so a re-run, an interrupted run or a concurrent runner never acts twice;
    * it writes one history entry per ticket and one audit entry per ticket (``detail`` is recorded in both);
    * it fires ``ticket_closed`` / ``ticket_locked`` / ``ticket_deleted`` (actor ``actor``) for each ticket;
    * with ``dry_run=True`` it changes nothing and returns how many tickets would be affected now;
    * it returns the number of tickets changed.

    :param now: the moment recorded as the change time (``closed_at``, ``locked_at``); default: the clock.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._state: AppState | None = None

    def bind(self, state: AppState) -> None:
        """Core: the app whose plugins hear the events and whose file service drops attachment references."""
        self._state = state

    def close_waiting(self, department_id: int, before: datetime, *, now: datetime | None = None,
                      dry_run: bool = False, batch: int = DEFAULT_BATCH, actor: str = "retention",
                      detail: Mapping[str, Any] | None = None) -> int:
        """Close tickets waiting for the customer (an agent spoke last) whose last agent reply is before ``before``.

        Tickets where the customer spoke last (``open``) are never closed by this.
        """
        from core.tickets import bulk

        return self._run(bulk.close_condition, bulk.close_tickets, department_id, before, now, dry_run, batch,
                         actor, detail)

    def lock_closed(self, department_id: int, before: datetime, *, now: datetime | None = None,
                    dry_run: bool = False, batch: int = DEFAULT_BATCH, actor: str = "retention",
                    detail: Mapping[str, Any] | None = None) -> int:
        """Lock closed, unlocked tickets closed before ``before`` (by hand or automatically): no more replies."""
        from core.tickets import bulk

        return self._run(bulk.lock_condition, bulk.lock_tickets, department_id, before, now, dry_run, batch,
                         actor, detail)

    def delete_closed(self, department_id: int, before: datetime, *, now: datetime | None = None,
                      dry_run: bool = False, batch: int = DEFAULT_BATCH, actor: str = "retention",
                      detail: Mapping[str, Any] | None = None) -> int:
        """Delete closed tickets closed before ``before``, with their messages, history and attachment references.

        Attachments' bytes are collected later by core once no reference is left (``plugdesk storage gc``).
        """
        from core.tickets import bulk

        return self._run(bulk.delete_condition, bulk.delete_tickets, department_id, before, now, dry_run, batch,
                         actor, detail)

    def _run(self, condition: Any, apply: Any, department_id: int, before: datetime, now: datetime | None,
             dry_run: bool, batch: int, actor: str, detail: Mapping[str, Any] | None) -> int:
        from core.tickets import bulk
        from core.tickets.info import current_state, events_for

        if isinstance(batch, bool) or not 1 <= batch <= MAX_BATCH:
            raise ValueError(f"batch must be 1..{MAX_BATCH}, not {batch!r}")
        if before.tzinfo is None or (now is not None and now.tzinfo is None):
            raise ValueError("before and now must be timezone-aware")
        rule = bulk.Rule(department_id=department_id, before=before, now=now or datetime.now(UTC),
                         detail=dict(detail or {}))
        if dry_run:
            return bulk.count(self._db, condition(rule))
        if current_state() is None and self._state is not None:  # outside a sweep: this app's events
            with events_for(self._state):
                return int(apply(self._db, rule, actor=actor, batch=batch))
        return int(apply(self._db, rule, actor=actor, batch=batch))


class Passwords:
    """``ctx.passwords``: core's argon2id hasher (OWASP parameters), shared with core's dummy verifications.

    Store :meth:`hash` results with ``ctx.credentials``; never store or log a password in clear.
    """

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password`` (salted; a new string each call)."""
        from core.auth.hashing import password_hasher

        return password_hasher().hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``; a malformed hash is simply a mismatch."""
        from core.auth.hashing import verify

        return verify(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than today's (re-hash after a good login)."""
        from core.auth.hashing import password_hasher

        return password_hasher().check_needs_rehash(stored)

    def equal_work(self, password: str) -> None:
        """Spend one verification on a dummy hash, so an unknown account costs as long as a known one."""
        from core.auth.hashing import equal_work

        equal_work(password)
