"""The worker process: a mail thread draining the outbox and a scheduler thread running periodic jobs.

It runs as ``plugdesk worker`` (as many as you like, on any nodes) and, unless ``[worker] embedded =
false``, as one child process of ``plugdesk serve`` - forked before gunicorn starts, ended with it.
SIGTERM/SIGINT stop it after the message in flight.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from core.models import utcnow
from core.outbox.claims import node_name
from core.worker.models import WorkerProcess
from core.worker.scheduler import run_due

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from core.app_state import AppState

log = logging.getLogger("plugdesk.worker")
HEARTBEAT_SECONDS = 10.0
JOBS_EVERY_SECONDS = 15.0
RECOVER_EVERY_SECONDS = 30.0


class Worker:
    """One worker process's loops. :meth:`run` blocks until :attr:`stop` is set."""

    def __init__(self, state: AppState, *, embedded: bool = False, stop: threading.Event | None = None) -> None:
        self.state = state
        self.embedded = embedded
        self.stop = stop or threading.Event()
        # imported here, not at the top: `serve` imports this module for start_embedded before it forks the
        # gunicorn workers, which never send mail (SMTP, MIME; issue 22)
        from core.outbox.delivery import Delivery, DrainReport

        self.id = f"{node_name()}:{secrets.token_hex(3)}"
        self.delivery = Delivery(state, stop=self.stop)
        self.poll = state.settings.get("worker", "poll_ms") / 1000.0
        self.totals = DrainReport()

    def _register(self) -> None:
        with self.state.db.session() as s:
            s.add(WorkerProcess(id=self.id, node=node_name().rsplit(":", 1)[0], pid=os.getpid(),
                                embedded=self.embedded, started_at=utcnow(), heartbeat_at=utcnow()))

    def _heartbeat(self, stopped: bool = False) -> None:
        values: dict[str, Any] = {"heartbeat_at": utcnow(), "sent": self.totals.sent, "failed": self.totals.failed}
        if stopped:
            values["stopped_at"] = utcnow()
        with self.state.db.session() as s:
            s.execute(update(WorkerProcess).where(WorkerProcess.id == self.id).values(**values))

    def mail_loop(self) -> None:
        """Drain what is due, sleep ``[worker] poll_ms``, repeat; database trouble only delays it."""
        last_recover = 0.0
        while not self.stop.is_set():
            pause = self.poll
            try:
                guard = self.delivery.guard
                if guard.acquire():
                    if time.monotonic() - last_recover > RECOVER_EVERY_SECONDS:
                        guard.recover()
                        last_recover = time.monotonic()
                    self.totals.add(self.delivery.drain())
            except Exception:
                log.exception("worker %s: mail pass failed; retrying in 5 s", self.id)
                pause = 5.0
            self.stop.wait(pause)

    def job_loop(self) -> None:
        """Run due periodic jobs every few seconds and keep the heartbeat fresh."""
        next_beat = 0.0
        while not self.stop.is_set():
            try:
                run_due(self.state, self.id, stop=self.stop.is_set)
                if time.monotonic() >= next_beat:
                    self._heartbeat()
                    next_beat = time.monotonic() + HEARTBEAT_SECONDS
            except Exception:
                log.exception("worker %s: scheduler pass failed", self.id)
            self.stop.wait(JOBS_EVERY_SECONDS)

    def run(self) -> None:
        """Register, run both loops until stopped, then record the stop."""
        self._register()
        log.info("worker %s started (%s)", self.id, "embedded in serve" if self.embedded else "standalone")
        jobs = threading.Thread(target=self.job_loop, name="plugdesk-jobs", daemon=True)
        jobs.start()
        try:
            self.mail_loop()
        finally:
            self.stop.set()
            jobs.join(timeout=60)
            self.delivery.close()
            try:
                self._heartbeat(stopped=True)
            except Exception:
                log.warning("worker %s: could not record its stop", self.id)
            log.info("worker %s stopped: %s sent, %s failed", self.id, self.totals.sent, self.totals.failed)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the message in flight is finished first).

    The handler sets it from a short-lived thread, never itself: a handler runs in the main thread between two
    bytecodes, possibly while that thread holds the event's internal lock (inside ``Event.wait``, or inside a
    first handler's ``Event.set`` when a second signal arrives), and taking that lock again there deadlocks.
    Seen in CI: an embedded worker that got its parent's SIGTERM and ``PR_SET_PDEATHSIG`` at once never exited.
    """
    def handler(_signo: int, _frame: Any) -> None:
        if not stop.is_set():  # no lock taken
            threading.Thread(target=stop.set, name="plugdesk-stop-signal", daemon=True).start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when its parent exits, however it exits (Linux ``PR_SET_PDEATHSIG``)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:  # not Linux: the parent's atexit handler stops us instead
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def start_embedded(app: Flask) -> int | None:
    """Fork the embedded worker of ``plugdesk serve`` (before gunicorn starts); its pid, or ``None`` when
    ``[worker] embedded = false``."""
    from core.app_state import state as app_state

    st = app_state(app)
    if not st.settings.get("worker", "embedded"):
        log.info("embedded worker off ([worker] embedded = false): run `plugdesk worker` for mail and jobs")
        return None
    parent = os.getpid()
    pid = os.fork()
    if pid:
        import atexit

        atexit.register(_terminate, pid)
        return pid
    code = 0
    try:
        _die_with_parent(parent)
        st.db.engine.dispose(close=False)  # never touch connections the parent may still hold
        stop = threading.Event()
        stop_on_signals(stop)
        Worker(st, embedded=True, stop=stop).run()
    except BaseException:
        log.exception("embedded worker crashed")
        code = 1
    finally:
        os._exit(code)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def recent_workers(state: AppState, within: timedelta = timedelta(hours=1)) -> list[WorkerProcess]:
    """Worker processes with a heartbeat in the last ``within`` (the status page)."""
    from sqlalchemy import select

    with state.db.session() as s:
        return list(s.scalars(select(WorkerProcess).where(WorkerProcess.heartbeat_at >= utcnow() - within)
                              .order_by(WorkerProcess.started_at.desc())))
