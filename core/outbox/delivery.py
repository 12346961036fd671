"""Drain the outbox: claim due rows, render, send, record the outcome - one committed step per message.

States: ``queued`` -> ``sending`` (claimed, committed) -> ``sent`` | ``queued`` again (temporary failure,
exponential backoff with jitter) | ``failed`` (5xx answer, unusable address, or still undelivered at its
deadline, 48 h by default). A worker that dies mid-batch leaves its rows ``sending``; they are queued again
(:mod:`core.outbox.claims`), so at most the one message in flight can arrive twice - with the same
Message-ID, which receivers use to drop the copy.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, delete, select, update

from core.models import utcnow
from core.outbox.claims import ClaimGuard
from core.outbox.compose import InvalidAddress, build_message, check_address, needs_smtputf8, parse_sender
from core.outbox.models import OutboxMessage
from core.outbox.render import render
from core.outbox.transport import DeliveryError, Transport, make_transport

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState

log = logging.getLogger("plugdesk.outbox")
_TABLE = cast(Table, OutboxMessage.__table__)  # per-message reads and writes skip the ORM session (speed)


@dataclass
class DrainReport:
    """What one :meth:`Delivery.drain` did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dropped: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        """Sum ``other`` into this report."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.dropped += other.dropped
        self.claimed += other.claimed
        self.errors.extend(other.errors[:20])


def backoff_seconds(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before attempt ``attempts + 1``: ``base`` doubling per attempt, at most ``cap``, +/- 25 % jitter."""
    delay = min(base * 2 ** max(0, attempts - 1), cap)
    return delay * (0.75 + 0.5 * rand())


class Delivery:
    """Sends due outbox rows of one app. One instance per worker process (it keeps the SMTP connection)."""

    def __init__(self, state: AppState, transport: Transport | None = None, guard: ClaimGuard | None = None,
                 stop: threading.Event | None = None) -> None:
        self.state = state
        settings = state.settings
        self.transport = transport or make_transport(settings.get("mail", "url"), settings.data_dir / "outbox",
                                                     settings.get("worker", "smtp_timeout_seconds"))
        self.guard = guard or ClaimGuard(state.db)
        self.stop = stop or threading.Event()
        self.sender_name, self.sender = parse_sender(settings.get("mail", "sender"))
        self.batch = settings.get("worker", "batch_size")
        self.base = float(settings.get("worker", "retry_base_seconds"))
        self.cap = settings.get("worker", "retry_max_delay_minutes") * 60.0

    # ------------------------------------------------------------------ claiming
    def claim(self, now: datetime, limit: int) -> list[int]:
        """Mark up to ``limit`` due rows ``sending`` for this worker (committed); their ids, oldest first."""
        db = self.state.db
        with db.session() as s:
            ids = list(s.scalars(select(OutboxMessage.id).where(
                OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
                .with_for_update(skip_locked=True)))
            if ids:
                s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.state == "queued")
                          .values(state="sending", claimed_at=now, claimed_by=self.guard.name,
                                  claim_key=self.guard.key if self.guard.postgres else None,
                                  attempts=OutboxMessage.attempts + 1, updated_at=now))
        return ids

    def _unclaim(self, ids: list[int]) -> None:
        """Give rows back untouched (the worker is stopping before it tried them)."""
        if not ids:
            return
        with self.state.db.session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.state == "sending",
                                                  OutboxMessage.claimed_by == self.guard.name)
                      .values(state="queued", claimed_by="", claim_key=None,
                              attempts=OutboxMessage.attempts - 1))

    # ------------------------------------------------------------------ one message
    def deliver(self, row_id: int, report: DrainReport, now: Callable[[], datetime] = utcnow) -> None:
        """Render, build and send one claimed row, then commit its outcome."""
        table = _TABLE
        with self.state.db.engine.connect() as conn:  # a plain read: no ORM session per message
            found = conn.execute(select(table).where(table.c.id == row_id)).first()
        if found is None or found.state != "sending" or found.claimed_by != self.guard.name:
            return
        row = OutboxMessage(**found._mapping)  # transient, never added to a session
        try:
            rendered = render(self.state, row)
        except Exception as exc:  # a database hiccup while issuing a token, say: try again later
            log.exception("outbox: rendering message %s failed", row_id)
            self._outcome(row, report, now(), DeliveryError(f"could not prepare the message: "
                                                            f"{exc.__class__.__name__}: {exc}"))
            return
        if rendered is None:
            with self.state.db.session() as s:
                s.execute(delete(OutboxMessage).where(OutboxMessage.id == row_id))
            report.dropped += 1
            return
        try:
            to = check_address(rendered.to)
            msg = build_message(sender=self.sender, sender_name=self.sender_name, to_addr=to,
                                to_name=rendered.to_name, subject=rendered.subject, text=rendered.text,
                                html=rendered.html, msg_id=row.message_id, headers=row.headers)
        except (InvalidAddress, ValueError) as exc:
            self._outcome(row, report, now(), DeliveryError(f"not sent: {exc}", permanent=True), rendered.to,
                          rendered.subject)
            return
        try:
            self.transport.send(msg, self.sender, to, needs_smtputf8(to, self.sender))
        except DeliveryError as exc:
            self._outcome(row, report, now(), exc, to, rendered.subject)
            return
        self._outcome(row, report, now(), None, to, rendered.subject)

    def _outcome(self, row: OutboxMessage, report: DrainReport, now: datetime, error: DeliveryError | None,
                 to: str | None = None, subject: str | None = None) -> None:
        values: dict[str, object] = {"updated_at": now, "claim_key": None}  # claimed_by stays: who tried last
        if to is not None:
            values["to_addr"] = to[:320]
        if subject is not None:
            values["subject"] = subject[:300]
        if error is None:
            values.update(state="sent", sent_at=now, last_error="")
            report.sent += 1
        elif error.permanent or now >= row.deadline_at:
            reason = error.reason if error.permanent else (
                f"gave up after {row.attempts} attempts: {error.reason}")
            values.update(state="failed", last_error=reason)
            report.failed += 1
            log.warning("outbox: message %s to %s failed: %s", row.id, to or row.to_addr, reason)
        else:
            delay = backoff_seconds(row.attempts, self.base, self.cap)
            values.update(state="queued", last_error=error.reason,
                          next_attempt_at=min(now + timedelta(seconds=delay), row.deadline_at))
            report.retrying += 1
            report.errors.append(error.reason)
            log.info("outbox: message %s not delivered (%s); attempt %s in %.0f s", row.id, error.reason,
                     row.attempts + 1, delay)
        table = _TABLE
        with self.state.db.engine.begin() as conn:  # one small write, committed before the next message
            conn.execute(update(table).where(table.c.id == row.id, table.c.state == "sending",
                                             table.c.claimed_by == self.guard.name).values(**values))

    # ------------------------------------------------------------------ passes
    def drain(self, now: Callable[[], datetime] = utcnow, max_batches: int | None = None) -> DrainReport:
        """Send every row due now, batch by batch, until none is left (or :attr:`stop` is set)."""
        report = DrainReport()
        if not self.guard.acquire():
            return report
        batches = 0
        try:
            while not self.stop.is_set() and (max_batches is None or batches < max_batches):
                ids = self.claim(now(), self.batch)
                if not ids:
                    break
                batches += 1
                report.claimed += len(ids)
                for i, row_id in enumerate(ids):
                    if self.stop.is_set():
                        self._unclaim(ids[i:])
                        break
                    self.deliver(row_id, report, now)
        finally:
            self.transport.close()
        return report

    def close(self) -> None:
        """Close the connection and give up the claim right."""
        self.transport.close()
        self.guard.release()


def deliver_now(state: AppState, now: datetime | None = None, transport: Transport | None = None) -> DrainReport:
    """Send everything due now in this process, then let go (tests, ``plugdesk worker --once``)."""
    delivery = Delivery(state, transport=transport)
    try:
        if delivery.guard.acquire():
            delivery.guard.recover()
        return delivery.drain((lambda: now) if now else utcnow)
    finally:
        delivery.close()
