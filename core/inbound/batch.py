"""Many fetched emails in one transaction: the fast path of the poller (:func:`core.inbound.poll.poll_source`).

Same outcomes and guarantees as :func:`core.inbound.ingest.ingest` message by message, at a fraction of the
cost per message:

* the ``(source, uid)`` check, the Message-ID duplicate check and the per-sender hourly count are one query
  each for the whole batch (then kept up to date in memory as the batch is written, in order);
* settings and block lists are read once per batch; every message is parsed once;
* the original ``.eml`` files and attachments are stored together (:func:`core.files.batch.store_many`:
  one lease transaction, overlapping durable writes) before the write transaction, as the single path does;
* the tickets, replies and records of the batch are written in **one** transaction, each message inside its
  own savepoint: a message that fails rolls back alone and is handed back (``None``) for the single path,
  so it can never take the others down with it. The caller acknowledges the batch only after this returns,
  i.e. after the commit: nothing is acknowledged before it is stored, and a crash before the commit leaves
  the whole batch unacknowledged (fetched again, ingested once thanks to ``(source, uid)``).

Messages that are rare and special - too large, truncated, bounces, a uid twice in one batch - take the
single path too (``None``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.inbound import ingest as single  # its helpers, looked up at call time (tests may replace them)
from core.inbound.ingest import MIB, Outcome, RetryLater, _Refused, _Written
from core.inbound.models import InboundMail
from core.inbound.parse import ParsedMail, parse
from core.inbound.threads import find_target
from core.models import utcnow
from core.types import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.types import InboundMessage, MailSource

log = logging.getLogger("plugdesk.inbound")
#: Messages per transaction (the poller cuts what one fetch returned into batches of this size).
BATCH_SIZE = 50


@dataclass
class _Item:
    message: InboundMessage
    uid: str
    size: int
    mail: ParsedMail | None = None
    outcome: Outcome | None = None
    alone: bool = False
    staged: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: _Written | None = None


@dataclass
class _Seen:
    """What the duplicate and rate checks need, for the senders and Message-IDs of one batch."""

    earlier: dict[str, int]  # Message-ID -> id of the first inbound_mail row with it
    recent: dict[str, int]  # sender -> tickets and replies in the last hour
    limit: int

    @classmethod
    def load(cls, s: Session, source: str, mails: list[ParsedMail], now: datetime, limit: int) -> _Seen:
        ids = sorted({m.message_id for m in mails if m.message_id})
        senders = sorted({m.sender for m in mails if m.sender})
        earlier: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            earlier.update((mid, int(first)) for mid, first in s.execute(
                select(InboundMail.message_id, func.min(InboundMail.id)).where(
                    InboundMail.source == source, InboundMail.message_id.in_(ids[start:start + 500]))
                .group_by(InboundMail.message_id)))
        recent: dict[str, int] = {}
        for start in range(0, len(senders), 500):
            recent.update((sender, int(n)) for sender, n in s.execute(
                select(InboundMail.sender, func.count()).where(
                    InboundMail.sender.in_(senders[start:start + 500]), InboundMail.outcome.in_(("ticket", "reply")),
                    InboundMail.received_at >= now - timedelta(hours=1)).group_by(InboundMail.sender)))
        return cls(earlier, recent, limit)

    def reason(self, mail: ParsedMail) -> str | None:
        """The duplicate and rate-limit part of :func:`core.inbound.ingest._screen`, from memory."""
        if mail.message_id and mail.message_id in self.earlier:
            return f"same Message-ID as email #{self.earlier[mail.message_id]}, already ingested"
        if self.recent.get(mail.sender, 0) >= self.limit:
            return f"more than {self.limit} emails from {mail.sender} in an hour ([inbound] sender_limit_per_hour)"
        return None

    def add(self, mail: ParsedMail, outcome: Outcome) -> None:
        """Count a message just recorded, as the next message's checks would find it in the database."""
        if mail.message_id and outcome.record_id is not None:
            self.earlier.setdefault(mail.message_id, outcome.record_id)
        if outcome.outcome in ("ticket", "reply"):
            self.recent[mail.sender] = self.recent.get(mail.sender, 0) + 1

    def copy(self) -> _Seen:
        return _Seen(dict(self.earlier), dict(self.recent), self.limit)


def _begin(s: Session) -> None:
    """Start the transaction now. pysqlite begins one lazily at the first write, so a SAVEPOINT before that
    would open the outermost transaction and its RELEASE would commit it: the batch would not be atomic."""
    conn = s.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN")


def _prepare(state: AppState, source: MailSource, messages: list[InboundMessage]) -> list[_Item]:
    """Items for ``messages``: already ingested ones get their outcome, special ones are marked ``alone``."""
    items = [_Item(m, str(m.uid)[:250], max(m.size, len(m.raw))) for m in messages]
    with state.db.session() as s:
        done = {uid: (ticket_id, rid) for uid, ticket_id, rid in s.execute(
            select(InboundMail.uid, InboundMail.ticket_id, InboundMail.id).where(
                InboundMail.source == source.name, InboundMail.uid.in_([i.uid for i in items])))}
    max_bytes = state.settings.get("inbound", "max_message_mb") * MIB
    most = state.settings.get("inbound", "max_attachments")
    uids: set[str] = set()
    for item in items:
        if item.uid in done:
            item.outcome = Outcome("duplicate", "already ingested", *done[item.uid])
        elif item.uid in uids or item.message.truncated or item.size > max_bytes:
            item.alone = True
        else:
            uids.add(item.uid)
            item.mail = parse(item.message.raw, max_attachments=most)
            item.alone = item.mail.bounce is not None
    return items


def _save(s: Session, item: _Item, work: Any) -> bool:
    """Run ``work()`` inside a savepoint; ``False`` (rolled back, handed to the single path) if it failed."""
    try:
        with s.begin_nested():
            work()
        return True
    except _Refused:
        raise
    except Exception:  # a concurrent worker (unique key) or a bug: the single path decides, alone
        log.info("mail %s: retried alone", item.uid, exc_info=True)
        item.alone, item.outcome, item.written = True, None, None
        return False


def ingest_batch(state: AppState, source: MailSource, messages: list[InboundMessage],
                 now: datetime | None = None) -> list[Outcome | None]:
    """Ingest ``messages`` (in order) in one transaction; one outcome per message, ``None`` for a message the
    caller must pass to :func:`core.inbound.ingest.ingest` alone (after this returned).

    :raises RetryLater: the file store failed (nothing of the batch was written).
    :raises sqlalchemy.exc.DBAPIError: the database failed (nothing of the batch was written).
    """
    now = now or utcnow()
    items = _prepare(state, source, messages)
    work = [i for i in items if i.outcome is None and not i.alone]
    if work:
        _write_all(state, source, work, now)
    return [None if i.alone else i.outcome for i in items]


def _write_all(state: AppState, source: MailSource, work: list[_Item], now: datetime) -> None:
    lists = single.block_lists(state)
    limit = state.settings.get("inbound", "sender_limit_per_hour")
    mails = [i.mail for i in work if i.mail is not None]
    with state.db.session() as s:
        seen = _Seen.load(s, source.name, mails, now, limit)
    tentative = seen.copy()
    staged: list[Any] = []
    try:
        for item in work:  # stage what will probably become a ticket or a reply
            assert item.mail is not None
            if single.static_reason(source, item.mail, lists) or tentative.reason(item.mail):
                continue
            tentative.add(item.mail, Outcome("ticket"))
            item.staged = single.stage(state, item.mail, item.message.raw, item.notes, store=False)
            staged.extend(item.staged)
        if staged:
            from core.files.batch import store_many
            from core.files.service import file_service

            try:
                store_many(file_service(state), staged)
            except StorageError as exc:
                raise RetryLater(f"file storage: {exc}") from exc
        with state.db.session() as s:
            _begin(s)
            seen = _Seen.load(s, source.name, mails, now, limit)  # again, inside the transaction
            for item in work:
                _write_one(state, s, source, item, seen, lists)
    finally:
        for upload in staged:
            upload.cleanup()
    for item in work:
        if item.written is not None:
            single._after(state, item.written)


def _write_one(state: AppState, s: Session, source: MailSource, item: _Item, seen: _Seen,
               lists: tuple[list[str], list[str]]) -> None:
    mail = item.mail
    assert mail is not None
    reason = single.static_reason(source, mail, lists) or seen.reason(mail)
    if reason is None and not item.staged and state.storage is not None:
        item.alone = True  # it was expected to be filed; the single path stores its files
        return

    def filed() -> None:
        item.outcome = single._record(state, source.name, item.uid, mail, item.size, "filed", reason or "",
                                      session=s)

    def written() -> None:
        target = find_target(s, mail, state.ctx.secret_key)
        body = single._body(mail, item.notes)
        item.written, outcome, why = single._write(state, s, source, mail, target, body, item.staged)
        item.outcome = single._record(state, source.name, item.uid, mail, item.size, outcome, why,
                                      item.written.ticket_id, session=s, message_id=item.written.message_id)
        item.outcome.notes = item.notes

    try:
        done = _save(s, item, filed if reason else written)
    except _Refused as exc:
        refusal = str(exc)
        item.written = None

        def refused() -> None:
            item.outcome = single._record(state, source.name, item.uid, mail, item.size, "refused", refusal,
                                          session=s)

        done = _save(s, item, refused)
    if done and item.outcome is not None:
        seen.add(mail, item.outcome)
