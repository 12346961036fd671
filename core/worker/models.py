"""Status tables of the background worker: one row per periodic job, one row per running worker process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow


class JobRun(Base):
    """The last run of a periodic job (``retention``, ``storage.gc``, ...), on whichever node ran it.

    ``started_at`` doubles as the cluster-wide claim: a node runs a job only if it can move ``started_at``
    forward from a value older than the job's interval (one atomic UPDATE, so one node per interval).
    """

    __tablename__ = "worker_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="never")  # never | running | done | failed
    summary: Mapped[str] = mapped_column(Text, default="")
    node: Mapped[str] = mapped_column(String(200), default="")
    runs: Mapped[int] = mapped_column(Integer, default=0)


class WorkerProcess(Base):
    """A worker process and its heartbeat (the status page lists those seen recently)."""

    __tablename__ = "worker_processes"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    node: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    embedded: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
