"""Looking after the outbox: listings, counts (for the Mail page, the dashboard banner, metrics and the CLI),
retry and discard (audited).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.models import AuditEntry, utcnow
from core.outbox.models import OutboxMessage

SENT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class OutboxCounts:
    """Outbox depth and health, for metrics and the dashboard (``oldest_queued_seconds``: age of the oldest
    message waiting, 0 when none)."""

    queued: int
    sending: int
    failed: int
    sent_last_24h: int
    sent_last_7d: int
    oldest_queued_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON, metrics)."""
        return asdict(self)


def outbox_counts(db: Database, now: datetime | None = None) -> OutboxCounts:
    """Counts by state (one grouped query plus two small ones); cheap enough for every metrics scrape."""
    now = now or utcnow()
    with db.session() as s:
        by_state = dict(s.execute(select(OutboxMessage.state, func.count()).where(
            OutboxMessage.state.in_(("queued", "sending", "failed"))).group_by(OutboxMessage.state)).all())
        sent = s.execute(select(
            func.count().filter(OutboxMessage.sent_at >= now - timedelta(hours=24)),
            func.count()).where(OutboxMessage.state == "sent", OutboxMessage.sent_at >= now - SENT_WINDOW)).one()
        oldest = s.scalar(select(func.min(OutboxMessage.created_at)).where(
            OutboxMessage.state.in_(("queued", "sending"))))
    return OutboxCounts(queued=by_state.get("queued", 0), sending=by_state.get("sending", 0),
                        failed=by_state.get("failed", 0), sent_last_24h=sent[0] or 0, sent_last_7d=sent[1] or 0,
                        oldest_queued_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


def failed_count(db: Database) -> int:
    """Messages that failed for good (the dashboard banner)."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "failed")) or 0


def message_json(m: OutboxMessage) -> dict[str, Any]:
    """The CLI/JSON shape of a row (never the body: it may be private)."""
    def iso(v: datetime | None) -> str | None:
        return v.isoformat().replace("+00:00", "Z") if v else None

    return {"id": m.id, "state": m.state, "kind": m.kind, "to": m.to_addr, "subject": m.subject,
            "attempts": m.attempts, "created_at": iso(m.created_at), "next_attempt_at": iso(m.next_attempt_at)
            if m.state == "queued" else None, "sent_at": iso(m.sent_at), "last_error": m.last_error,
            "message_id": m.message_id, "ticket_id": m.ticket_id,
            "ticket_message_id": m.ticket_message_id, "related": m.related}


def listing(session: Session, states: tuple[str, ...] = ("queued", "sending", "failed", "sent"),
            limit: int = 200, now: datetime | None = None) -> list[OutboxMessage]:
    """Rows in ``states``, newest first; ``sent`` ones only from the last 7 days."""
    now = now or utcnow()
    conds: list[ColumnElement[bool]] = []
    if "sent" in states:
        conds.append((OutboxMessage.state == "sent") & (OutboxMessage.sent_at >= now - SENT_WINDOW))
    others = tuple(s for s in states if s != "sent")
    if others:
        conds.append(OutboxMessage.state.in_(others))
    stmt = select(OutboxMessage).where(or_(*conds)).order_by(OutboxMessage.id.desc()).limit(limit)
    return list(session.scalars(stmt))


class OutboxActionError(LookupError):
    """The row does not exist or is not in a state the action applies to."""


def retry(db: Database, message_ids: list[int] | None, *, actor: str, ip: str = "",
          give_up_hours: int = 48) -> list[int]:
    """Queue failed (or waiting) messages for an attempt now, with a fresh retry window; ``None`` = every
    failed message. Audited as ``mail.retry``. Returns the ids queued."""
    now = utcnow()
    with db.session() as s:
        if message_ids is None:
            ids = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.state == "failed")))
        else:
            ids = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(message_ids),
                                                                OutboxMessage.state.in_(("failed", "queued")))))
            missing = sorted(set(message_ids) - set(ids))
            if missing:
                raise OutboxActionError(f"no failed or queued message with id {missing[0]}")
        if ids:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
                state="queued", next_attempt_at=now, deadline_at=now + timedelta(hours=give_up_hours),
                updated_at=now))
            s.add(AuditEntry(actor=actor, ip=ip, action="mail.retry", target=_target(ids),
                             new={"ids": ids[:1000]}))
    return ids


def discard(db: Database, message_id: int, *, actor: str, ip: str = "") -> None:
    """Give up on a failed or queued message (it stays listed as ``discarded``). Audited as ``mail.discard``."""
    with db.session() as s:
        row = s.get(OutboxMessage, message_id)
        if row is None or row.state not in ("failed", "queued"):
            raise OutboxActionError(f"no failed or queued message with id {message_id}")
        old = {"state": row.state, "to": row.to_addr, "subject": row.subject, "last_error": row.last_error}
        row.state, row.updated_at = "discarded", utcnow()
        s.add(AuditEntry(actor=actor, ip=ip, action="mail.discard", target=_target([message_id]), old=old,
                         new={"state": "discarded"}))


def _target(ids: list[int]) -> str:
    return f"mail:{ids[0]}" if len(ids) == 1 else f"mail:{len(ids)} messages"
