"""The built-in periodic jobs: retention, storage gc, and clean-up of old outbox rows and worker records."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from core.db import rowcount
from core.models import utcnow
from core.worker.scheduler import Job

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState


def _retention_interval(state: AppState) -> float | None:
    minutes = state.settings.get("retention", "interval_minutes")
    return minutes * 60.0 if minutes else None


def _retention(state: AppState) -> str:
    from core.retention import run_retention

    result = run_retention(state, utcnow())
    if result.skipped:
        return f"skipped: {result.skipped}"
    counts = result.counts()
    totals = {action: sum(row.get(action, 0) for row in counts.values()) for action in ("closed", "locked",
                                                                                         "deleted")}
    return f"run {result.run_id}: " + ", ".join(f"{n} {action}" for action, n in totals.items())


def _gc_interval(state: AppState) -> float | None:
    minutes = state.settings.get("worker", "gc_interval_minutes")
    return minutes * 60.0 if minutes and state.storage is not None else None


def _gc(state: AppState) -> str:
    from core.files.service import DEFAULT_GRACE_SECONDS, file_service, human_size

    report = file_service(state).gc(DEFAULT_GRACE_SECONDS)
    summary = f"deleted {report.deleted} blobs ({human_size(report.bytes_freed)}), kept {report.kept}"
    if report.errors:
        raise RuntimeError(f"{summary}; {len(report.errors)} could not be deleted (first: {report.errors[0]})")
    return summary


def _cleanup(state: AppState) -> str:
    from core.outbox.models import OutboxMessage
    from core.worker.models import WorkerProcess

    now = utcnow()
    keep = timedelta(days=state.settings.get("worker", "keep_sent_days"))
    with state.db.session() as s:
        rows = rowcount(s.execute(delete(OutboxMessage).where(OutboxMessage.state.in_(("sent", "discarded")),
                                                              OutboxMessage.updated_at < now - keep)))
        workers = rowcount(s.execute(delete(WorkerProcess).where(WorkerProcess.heartbeat_at
                                                                 < now - timedelta(days=1))))
    return f"deleted {rows or 0} old sent/discarded messages, {workers or 0} stale worker records"


def jobs() -> list[Job]:
    """The jobs of this module (see :data:`core.worker.scheduler.JOB_MODULES`)."""
    return [
        Job("retention", "Retention (close, lock, delete tickets)", _retention_interval, _retention,
            help="Every [retention] interval_minutes; `plugdesk retention run` runs one pass by hand."),
        Job("storage.gc", "Storage garbage collection", _gc_interval, _gc,
            help="Every [worker] gc_interval_minutes; deletes blobs unreferenced for an hour."),
        Job("mail.cleanup", "Outbox clean-up", lambda _state: 3600.0, _cleanup,
            help="Hourly; deletes sent and discarded messages older than [worker] keep_sent_days."),
    ]
