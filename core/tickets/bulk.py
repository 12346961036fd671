"""Set-based, batched ticket operations for retention: close, lock, delete.

Each batch is one transaction: a guarded ``UPDATE ... RETURNING`` claims exactly the tickets that still
qualify (so a re-run or a concurrent runner never acts twice), then history rows and audit entries are
written with ``INSERT ... SELECT`` for the whole batch. Lifecycle hooks fire after each commit, only when a
plugin listens (see :func:`core.tickets.info.events_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, and_, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db import Database, UTCDateTime, rowcount, table_of
from core.models import AuditEntry
from core.tickets import attachments
from core.tickets.info import current_state, emit, listeners, ticket_infos
from core.tickets.models import Ticket, TicketEvent, TicketMessage
from core.types import TicketStatus

DEFAULT_BATCH = 10000
T = table_of(Ticket)
EVENTS = table_of(TicketEvent)
AUDIT = table_of(AuditEntry)
MESSAGES = table_of(TicketMessage)


@dataclass(frozen=True)
class Rule:
    """Which tickets of one department a bulk action applies to, as of ``now``."""

    department_id: int
    before: datetime  # the cut-off: tickets whose reference time is older than this
    now: datetime
    detail: dict[str, Any]  # recorded in the history and audit entries (e.g. {"rule": ..., "days": n})


def close_condition(rule: Rule) -> ColumnElement[bool]:
    """Waiting tickets whose last agent reply is older than the cut-off."""
    return and_(T.c.department_id == rule.department_id, T.c.status == TicketStatus.WAITING,
                T.c.last_agent_reply_at < rule.before)


def lock_condition(rule: Rule) -> ColumnElement[bool]:
    """Closed, unlocked tickets closed before the cut-off (by hand or automatically)."""
    return and_(T.c.department_id == rule.department_id, T.c.status == TicketStatus.CLOSED, T.c.locked.is_(False),
                T.c.closed_at < rule.before)


def delete_condition(rule: Rule) -> ColumnElement[bool]:
    """Closed tickets closed before the cut-off."""
    return and_(T.c.department_id == rule.department_id, T.c.status == TicketStatus.CLOSED,
                T.c.closed_at < rule.before)


def count(db: Database, condition: ColumnElement[bool]) -> int:
    """How many tickets match (dry runs)."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(T).where(condition)) or 0


def _batches(db: Database, condition: ColumnElement[bool], batch: int,
             step: Callable[[Session, list[int]], list[int]], hook: str, actor: str, before_hook: bool) -> int:
    """Run ``step`` on id batches until nothing matches; fire ``hook`` per ticket after each commit."""
    state = current_state()
    wanted = listeners(state, hook)
    total = 0
    while True:
        infos: list[Any] = []
        with db.session() as s:
            ids = list(s.scalars(select(T.c.id).where(condition).order_by(T.c.id).limit(batch)))
            if not ids:
                break
            if wanted and before_hook:
                infos = ticket_infos(s, ids)
            done = step(s, ids)
            if wanted and not before_hook:
                infos = ticket_infos(s, done)
            elif wanted:
                keep = set(done)
                infos = [i for i in infos if i.id in keep]
        total += len(done)
        for info in infos:
            emit(state, hook, ticket=info, actor=actor)
        if len(ids) < batch:
            break
    return total


def _ranged(db: Database, rule: Rule, condition: ColumnElement[bool], values: dict[str, Any], kind: str,
            action: str, old: dict[str, Any], hook: str, actor: str, batch: int) -> int:
    """Batches by id range: history, audit and the guarded UPDATE run on the same ``condition AND id BETWEEN``.

    All three statements share one transaction that starts by locking the range (PostgreSQL: ``FOR UPDATE``;
    SQLite: the first write takes the database's write lock), so they see the same rows.
    """
    state = current_state()
    wanted = listeners(state, hook)
    total, low = 0, 0
    while True:
        with db.session() as s:
            ids_stmt = select(T.c.id).where(condition, T.c.id > low).order_by(T.c.id)
            high = s.scalar(ids_stmt.offset(batch - 1).limit(1))
            if high is None:
                high = s.scalar(select(func.max(T.c.id)).where(condition, T.c.id > low))
                if high is None:
                    break
            chosen = and_(condition, T.c.id > low, T.c.id <= high)
            if db.engine.dialect.name == "postgresql":
                s.execute(select(T.c.id).where(chosen).with_for_update())
            ids = list(s.scalars(select(T.c.id).where(chosen))) if wanted else []
            _record_where(s, chosen, rule, actor, kind, action, old)
            done = rowcount(s.execute(update(T).where(chosen).values(**values)))
            infos = ticket_infos(s, ids) if wanted else []
        total += done
        for info in infos:
            emit(state, hook, ticket=info, actor=actor)
        low = high
    return total


def _record_where(s: Session, chosen: ColumnElement[bool], rule: Rule, actor: str, kind: str, action: str,
                  old: dict[str, Any]) -> None:
    s.execute(insert(EVENTS).from_select(
        ["ticket_id", "at", "actor", "kind", "detail"],
        select(T.c.id, literal(rule.now, UTCDateTime()), literal(actor, String()), literal(kind, String()),
               literal(rule.detail, JSON())).where(chosen)))
    s.execute(insert(AUDIT).from_select(
        ["at", "actor", "ip", "action", "target", "old", "new"],
        select(literal(rule.now, UTCDateTime()), literal(actor, String()), literal("", String()),
               literal(action, String()), literal("ticket:", String()) + cast(T.c.id, String()),
               literal(old, JSON()), literal(rule.detail, JSON())).where(chosen)))


def close_tickets(db: Database, rule: Rule, *, actor: str = "retention", batch: int = DEFAULT_BATCH) -> int:
    """Close waiting tickets past the rule's cut-off; return how many were closed."""
    return _ranged(db, rule, close_condition(rule), {"status": TicketStatus.CLOSED, "closed_at": rule.now,
                                                     "updated_at": rule.now},
                   "auto_closed", "ticket.retention_close", {"status": TicketStatus.WAITING}, "ticket_closed",
                   actor, batch)


def lock_tickets(db: Database, rule: Rule, *, actor: str = "retention", batch: int = DEFAULT_BATCH) -> int:
    """Lock closed tickets past the rule's cut-off; return how many were locked."""
    return _ranged(db, rule, lock_condition(rule), {"locked": True, "locked_at": rule.now, "updated_at": rule.now},
                   "locked", "ticket.retention_lock", {"locked": False}, "ticket_locked", actor, batch)


def delete_tickets(db: Database, rule: Rule, *, actor: str = "retention", batch: int = DEFAULT_BATCH) -> int:
    """Delete closed tickets past the rule's cut-off with messages, history and attachment references."""
    condition = delete_condition(rule)

    def step(s: Session, ids: list[int]) -> list[int]:
        # claim first: the write takes the row locks (PostgreSQL) / the write lock (SQLite), so exactly the
        # tickets that still qualify are deleted even if a customer replied a moment ago
        done = [r[0] for r in s.execute(update(T).where(T.c.id.in_(ids), condition)
                                        .values(updated_at=rule.now).returning(T.c.id))]
        if not done:
            return done
        chosen_msgs = select(MESSAGES.c.id).where(MESSAGES.c.ticket_id.in_(done))
        attachments.drop_for_tickets(current_state(), s, done)
        s.execute(insert(AUDIT).from_select(
            ["at", "actor", "ip", "action", "target", "old", "new"],
            select(literal(rule.now, UTCDateTime()), literal(actor, String()), literal("", String()),
                   literal("ticket.retention_delete", String()), literal("ticket:", String()) + cast(T.c.id, String()),
                   literal({"status": TicketStatus.CLOSED}, JSON()), literal(rule.detail, JSON()))
            .where(T.c.id.in_(done))))
        s.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(chosen_msgs)))
        s.execute(delete(EVENTS).where(EVENTS.c.ticket_id.in_(done)))
        s.execute(delete(T).where(T.c.id.in_(done)))
        return done

    return _batches(db, condition, batch, step, "ticket_deleted", actor, before_hook=True)

