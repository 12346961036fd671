"""Retention runs: one cluster-wide lock, the ``retention_sweep`` hook, a record of every run (scheduled runs: the
background worker, :mod:`core.worker.jobs`).

The lock (:mod:`core.db_locks`) elects one runner among all nodes: a PostgreSQL session advisory lock
(released by the server if the process dies), or for SQLite - one database file on one host - an exclusive
``flock`` on a file next to the database. The sweeps themselves are idempotent, so a node that gets the lock
after another finished simply finds nothing left to do.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Database, UTCDateTime
from core.db_locks import database_lock
from core.models import utcnow
from core.types import SweepReport

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState

log = logging.getLogger("plugdesk.retention")
LOCK_KEY = 0x706C_7265_7465  # "plret": the advisory lock id of retention runs
ACTIONS = ("closed", "locked", "deleted")


class RetentionRun(Base):
    """One retention pass: when, as of which moment, on which node, its counts, how it ended."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    node: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    counts: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


@dataclass
class RetentionResult:
    """What :func:`run_retention` did. ``skipped`` names why nothing ran (lock held, ran recently)."""

    now: datetime
    dry_run: bool
    reports: list[SweepReport] = field(default_factory=list)
    skipped: str = ""
    run_id: int | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts per department and action, summed over every plugin's report."""
        merged: dict[str, dict[str, int]] = {}
        for report in self.reports:
            for dept, actions in report.counts.items():
                row = merged.setdefault(dept, dict.fromkeys(ACTIONS, 0))
                for action, n in actions.items():
                    row[action] = row.get(action, 0) + n
        return merged

    def as_json(self) -> dict[str, Any]:
        """The ``plugdesk retention run --json`` document."""
        return {"now": self.now.isoformat().replace("+00:00", "Z"), "dry_run": self.dry_run,
                "skipped": self.skipped or None, "run_id": self.run_id, "departments": self.counts(),
                "plugins": [r.plugin for r in self.reports]}


@contextmanager
def cluster_lock(db: Database, wait: bool = False) -> Iterator[bool]:
    """Hold the cluster-wide retention lock; yields ``False`` (without waiting) when another runner has it."""
    with database_lock(db.engine, LOCK_KEY, "retention", timeout=None if wait else 0) as got:
        yield got


def _node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def last_run(db: Database) -> RetentionRun | None:
    """The most recent real (not dry) run, or ``None``."""
    with db.session() as s:
        return s.scalar(select(RetentionRun).where(RetentionRun.dry_run.is_(False))
                        .order_by(RetentionRun.id.desc()).limit(1))


def run_retention(state: AppState, now: datetime, dry_run: bool = False, *, wait: bool = False,
                  min_interval: timedelta | None = None) -> RetentionResult:
    """Run every plugin's ``retention_sweep`` once, as of ``now``, under the cluster-wide lock.

    :param now: the moment rules are evaluated at (timezone-aware).
    :param dry_run: report what would change without changing anything.
    :param wait: wait for the lock instead of skipping when another node holds it.
    :param min_interval: skip when the last real run started less than this long ago (the scheduler).
    :raises Exception: whatever a plugin raised, after the run was recorded as failed.
    """
    from core.tickets.info import events_for

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    result = RetentionResult(now=now, dry_run=dry_run)
    with cluster_lock(state.db, wait=wait) as got:
        if not got:
            result.skipped = "another node is running retention (the cluster lock is held)"
            return result
        if min_interval is not None:
            previous = last_run(state.db)
            if previous is not None and utcnow() - previous.started_at < min_interval:
                result.skipped = "the last run is more recent than the interval"
                return result
        with state.db.session() as s:
            run = RetentionRun(as_of=now, dry_run=dry_run, node=_node(), started_at=utcnow())
            s.add(run)
        result.run_id = run.id
        try:
            with events_for(state):
                for plugin, report in state.host.each("retention_sweep", now=now, dry_run=dry_run, ctx=state.ctx):
                    if report is not None:
                        report.plugin = report.plugin or plugin
                        result.reports.append(report)
        except BaseException as exc:  # also an interrupt: the committed batches stay done, the run says so
            _finish(state.db, run.id, "failed", result, f"{exc.__class__.__name__}: {exc}")
            raise
        _finish(state.db, run.id, "done", result, "")
    return result


def _finish(db: Database, run_id: int, status: str, result: RetentionResult, error: str) -> None:
    with db.session() as s:
        run = s.get(RetentionRun, run_id)
        if run is not None:
            run.status, run.finished_at, run.counts, run.error = status, utcnow(), result.counts(), error[:2000]


def parse_now(value: str | None) -> datetime:
    """Parse ``--now`` (ISO 8601; a value without zone is UTC); ``ValueError`` with the accepted forms."""
    if value is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now {value!r} is not an ISO 8601 date or time, e.g. 2026-12-01 or "
                         "2026-12-01T09:30:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

