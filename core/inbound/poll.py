"""Polling mail sources on the background worker: the ``mail.fetch`` job.

Each source is polled every ``poll_seconds``; every fetched message is ingested (:func:`core.inbound.ingest`)
and acknowledged only after that committed. A source that cannot be reached is retried with a doubling delay
(up to :data:`MAX_BACKOFF` seconds); a database or storage failure stops the round without acknowledging.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.types import MailSource, MailSourceUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.types import InboundMessage
    from core.worker.scheduler import Job

log = logging.getLogger("plugdesk.inbound")
MAX_BACKOFF = 900.0
SOURCES_KEY = "inbound.sources"
STATUS_KEY = "inbound.status"


@dataclass
class SourceStatus:
    """In-process poll state of one source: when it is due again and how it last went."""

    due: float = 0.0
    failures: int = 0
    last_error: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def sources(state: AppState) -> list[MailSource]:
    """Every enabled plugin's sources (asked once per app through ``mail_sources``); names are unique.

    :raises ValueError: two sources share a name.
    """
    found = state.extras.get(SOURCES_KEY)
    if found is None:
        owners: dict[str, str] = {}
        found = []
        for plugin, result in state.host.each("mail_sources", ctx=state.ctx):
            for source in result or []:
                if source.name in owners:
                    raise ValueError(f"two mail sources are named {source.name!r} (plugins {owners[source.name]} "
                                     f"and {plugin}); rename one")
                owners[source.name] = plugin
                found.append(source)
        state.extras[SOURCES_KEY] = found
    return list(found)


def status(state: AppState, name: str) -> SourceStatus:
    """The poll state of source ``name`` in this process."""
    table: dict[str, SourceStatus] = state.extras.setdefault(STATUS_KEY, {})
    return table.setdefault(name, SourceStatus())


def poll_source(state: AppState, source: MailSource, limit: int | None = None) -> dict[str, int]:
    """Fetch up to ``limit`` messages from ``source``, ingest them in batches, ack each batch after its commit.

    :return: how many messages ended in each outcome (``ticket``, ``reply``, ``filed``, ...).
    :raises MailSourceUnavailable: the server could not be reached (nothing is lost).
    :raises core.inbound.ingest.RetryLater: the database or the file store failed.
    """
    from core.inbound.batch import BATCH_SIZE

    limit = limit or state.settings.get("inbound", "batch_size")
    max_bytes = state.settings.get("inbound", "max_message_mb") * 1024 * 1024
    counts: dict[str, int] = {}
    batch: list[InboundMessage] = []
    for message in source.fetch(limit, max_bytes):
        batch.append(message)
        if len(batch) >= BATCH_SIZE:
            _ingest(state, source, batch, counts)
            batch = []
    if batch:
        _ingest(state, source, batch, counts)
    return counts


def _ingest(state: AppState, source: MailSource, batch: list[InboundMessage], counts: dict[str, int]) -> None:
    """Ingest ``batch`` (one transaction; special or failing messages one by one), then acknowledge it."""
    from sqlalchemy.exc import DBAPIError

    from core.inbound.batch import ingest_batch
    from core.inbound.ingest import RetryLater, ingest, record_failure
    from core.types import StorageError

    outage = (RetryLater, DBAPIError, StorageError, OSError, MailSourceUnavailable)
    try:
        outcomes = ingest_batch(state, source, batch)
    except outage:
        raise
    except Exception:  # a bug in the batch path must not block the mailbox: one by one instead
        log.exception("mail %s: batch of %d failed; ingesting one by one", source.name, len(batch))
        outcomes = [None] * len(batch)
    for i, (message, outcome) in enumerate(zip(batch, outcomes, strict=True)):
        if outcome is not None:
            continue
        try:
            outcomes[i] = ingest(state, source, message)
        except outage:
            raise  # leave it unacknowledged, the next poll tries again (what committed is then acknowledged)
        except Exception as exc:  # a bug on this message: record it, so it cannot block the mailbox
            outcomes[i] = record_failure(state, source, message, exc)
    source.ack_many([message.uid for message in batch])
    for message, done in zip(batch, outcomes, strict=True):
        assert done is not None
        counts[done.outcome] = counts.get(done.outcome, 0) + 1
        log.info("mail %s/%s: %s %s", source.name, message.uid, done.outcome, done.reason)


def poll_all(state: AppState, now: float | None = None, force: bool = False) -> dict[str, dict[str, int]]:
    """Poll every due source once; failures back off per source. ``{source: counts or {"error": 1}}``."""
    now = time.monotonic() if now is None else now
    report: dict[str, dict[str, int]] = {}
    for source in sources(state):
        st = status(state, source.name)
        if not force and now < st.due:
            continue
        try:
            counts = poll_source(state, source)
        except MailSourceUnavailable as exc:
            st.failures += 1
            delay = min(MAX_BACKOFF, float(source.poll_seconds) * 2 ** min(st.failures, 10))
            st.due, st.last_error = now + delay, f"{exc} (next try in {int(delay)} s)"
            log.warning("mail source %s unavailable: %s", source.name, st.last_error)
            _close(source)
            report[source.name] = {"unavailable": 1}
            continue
        except Exception as exc:
            st.failures += 1
            st.due, st.last_error = now + float(source.poll_seconds), f"{exc.__class__.__name__}: {exc}"
            log.exception("mail source %s: poll failed", source.name)
            _close(source)
            report[source.name] = {"error": 1}
            continue
        st.failures, st.last_error, st.due = 0, "", now + float(source.poll_seconds)
        for key, n in counts.items():
            st.counts[key] = st.counts.get(key, 0) + n
        report[source.name] = counts
    return report


def _close(source: MailSource) -> None:
    try:
        source.close()
    except Exception:
        log.debug("mail source %s: close failed", source.name, exc_info=True)


def close_all(state: AppState) -> None:
    """Close every source's connections (the worker stops)."""
    for source in state.extras.get(SOURCES_KEY) or []:
        _close(source)


def _interval(state: AppState) -> float | None:
    if not state.host.implementers("mail_sources"):
        return None
    try:
        found = sources(state)
    except Exception:
        return 60.0  # the run reports the problem
    return float(min(s.poll_seconds for s in found)) if found else None


def _run(state: AppState) -> str:
    report = poll_all(state)
    if not report:
        return "no source was due"
    parts = []
    for name, counts in report.items():
        parts.append(f"{name}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing new"))
    failed = [n for n, c in report.items() if "error" in c or "unavailable" in c]
    summary = "; ".join(parts)
    if failed and len(failed) == len(report):
        raise RuntimeError(summary + " - " + "; ".join(status(state, n).last_error for n in failed))
    return summary


def _cleanup(state: AppState) -> str:
    """Delete records of ingested email older than ``[inbound] keep_days``."""
    from datetime import timedelta

    from sqlalchemy import delete

    from core.db import rowcount
    from core.inbound.models import InboundMail
    from core.models import utcnow

    days = state.settings.get("inbound", "keep_days")
    with state.db.session() as s:
        gone = rowcount(s.execute(delete(InboundMail).where(InboundMail.received_at < utcnow() - timedelta(days=days))))
    return f"deleted {gone} records of email older than {days} days"


def jobs() -> list[Job]:
    """The ``mail.fetch`` and ``mail.inbound_cleanup`` jobs (see :data:`core.worker.scheduler.JOB_MODULES`)."""
    from core.worker.scheduler import Job

    def daily_with_sources(state: AppState) -> float | None:
        return 86_400.0 if state.host.implementers("mail_sources") else None

    return [Job("mail.fetch", "Email to ticket (fetch from mail sources)", _interval, _run,
                help="Every source's poll_seconds; a source that cannot be reached is retried with backoff."),
            Job("mail.inbound_cleanup", "Inbound mail records clean-up", daily_with_sources, _cleanup,
                help="Daily; deletes records of ingested email older than [inbound] keep_days.")]
