"""Periodic jobs on one scheduler: each job runs at most once per interval across every worker of a cluster.

A job is claimed by moving its ``worker_jobs.started_at`` forward with one conditional UPDATE (true on
SQLite and PostgreSQL alike), so of several workers polling at once exactly one runs it. Job modules are
listed in :data:`JOB_MODULES`; each has ``jobs() -> list[Job]`` (add yours there, as models are added to
:mod:`core.model_registry`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from core.db import rowcount
from core.models import utcnow
from core.worker.models import JobRun

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState

log = logging.getLogger("plugdesk.worker")
#: Modules with a ``jobs()`` function returning the periodic jobs they contribute.
JOB_MODULES = ("core.worker.jobs", "core.ops.schedule", "core.inbound.poll")


@dataclass(frozen=True)
class Job:
    """A periodic job. ``interval`` returns seconds between runs for an app (``0``/``None``: switched off);
    ``run`` does the work and returns a one-line summary (an exception marks the run failed)."""

    name: str
    label: str
    interval: Callable[[AppState], float | None]
    run: Callable[[AppState], str]
    help: str = ""


def all_jobs() -> list[Job]:
    """Every job of every module in :data:`JOB_MODULES`."""
    jobs: list[Job] = []
    for module in JOB_MODULES:
        jobs.extend(importlib.import_module(module).jobs())
    return jobs


def _ensure_rows(state: AppState, names: list[str]) -> None:
    with state.db.session() as s:
        known = set(s.scalars(select(JobRun.name).where(JobRun.name.in_(names))))
    for name in names:
        if name in known:
            continue
        try:
            with state.db.session() as s:
                s.add(JobRun(name=name, status="never"))
        except IntegrityError:  # another worker added it at the same moment
            pass


def claim(state: AppState, job: Job, interval: float, node: str, now: datetime) -> bool:
    """Atomically take ``job`` for this interval; ``False`` when it ran (or started) less than ``interval``
    seconds ago, on any node."""
    cutoff = now - timedelta(seconds=interval)
    with state.db.session() as s:
        done = s.execute(update(JobRun).where(JobRun.name == job.name, or_(JobRun.started_at.is_(None),
                                                                           JobRun.started_at <= cutoff))
                         .values(started_at=now, status="running", node=node, runs=JobRun.runs + 1))
        return bool(rowcount(done))


def run_job(state: AppState, job: Job, node: str, now: datetime | None = None) -> tuple[str, str]:
    """Run ``job`` now (already claimed) and record how it ended; ``(status, summary)``."""
    try:
        summary = job.run(state)
        status = "done"
    except Exception as exc:
        log.exception("job %s failed", job.name)
        summary, status = f"{exc.__class__.__name__}: {exc}", "failed"
    with state.db.session() as s:
        s.execute(update(JobRun).where(JobRun.name == job.name).values(
            finished_at=utcnow(), status=status, summary=summary[:2000], node=node))
    return status, summary


def run_due(state: AppState, node: str, now: datetime | None = None, jobs: list[Job] | None = None,
            stop: Callable[[], bool] = lambda: False) -> list[tuple[str, str, str]]:
    """Run every job whose interval has passed and that no other worker took; ``(name, status, summary)``."""
    now = now or utcnow()
    jobs = jobs if jobs is not None else all_jobs()
    active = [(job, job.interval(state)) for job in jobs]
    active = [(job, interval) for job, interval in active if interval]
    if not active:
        return []
    _ensure_rows(state, [job.name for job, _ in active])
    results = []
    for job, interval in active:
        if stop():
            break
        if claim(state, job, float(interval or 0), node, now):
            status, summary = run_job(state, job, node)
            log.info("job %s %s: %s", job.name, status, summary)
            results.append((job.name, status, summary))
    return results


def job_status(state: AppState) -> list[dict[str, object]]:
    """Every known job with its interval and last run (the Background jobs page)."""
    with state.db.session() as s:
        rows = {r.name: r for r in s.scalars(select(JobRun))}
    out: list[dict[str, object]] = []
    for job in all_jobs():
        row = rows.get(job.name)
        interval = job.interval(state)
        out.append({"name": job.name, "label": job.label, "help": job.help, "interval_seconds": interval or 0,
                    "status": row.status if row else "never", "started_at": row.started_at if row else None,
                    "finished_at": row.finished_at if row else None, "summary": row.summary if row else "",
                    "node": row.node if row else "", "runs": row.runs if row else 0})
    return out
