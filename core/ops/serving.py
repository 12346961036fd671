"""What ``plugdesk serve`` sets up before gunicorn forks: logging, multiprocess metrics, the metrics listener.

* Logging goes through :func:`core.ops.logs.configure_logging` (``[logging] format``/``level``), gunicorn's
  own messages included (:class:`core.ops.logs.GunicornLogger`).
* Metrics: gunicorn always forks workers, so ``serve`` always uses prometheus_client's multiprocess mode.
  Without ``PROMETHEUS_MULTIPROC_DIR`` a fresh private directory is created (and removed at exit); a
  directory given by the operator is emptied at start, as prometheus_client requires. Dead workers'
  live gauges are dropped (``child_exit``).
* ``[metrics] bind`` starts a listener in the gunicorn master that serves ``/metrics`` of all workers.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

log = logging.getLogger("plugdesk.serve")


def _multiprocess_dir() -> tuple[Path, bool]:
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix="plugdesk-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, True


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def start_listener(app: Flask, bind: str) -> Any:
    """Serve ``/metrics`` (all workers, plus the database figures) on ``bind`` from this process."""
    from prometheus_client import start_http_server

    from core.ops.web import EXTENSION

    ext = app.extensions[EXTENSION]
    host, _, port = bind.rpartition(":")
    registry = ext["metrics"].scrape_registry([ext["collector"]])
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    log.info("metrics listener on http://%s/metrics", bind)
    return server


def prepare(app: Flask) -> dict[str, Any]:
    """Set up logging and metrics for ``serve``; returns extra gunicorn settings."""
    from core.ops.logs import configure_logging
    from core.ops.web import EXTENSION, rebuild_metrics

    settings = app.extensions["plugdesk"].settings
    configure_logging(settings.get("logging", "level"), settings.get("logging", "format"))
    options: dict[str, Any] = {"logger_class": "core.ops.logs.GunicornLogger"}
    if app.extensions[EXTENSION]["metrics"] is None:
        return options
    path, own = _multiprocess_dir()
    if own:
        master = os.getpid()

        def cleanup() -> None:
            if os.getpid() == master:  # not in forked workers
                shutil.rmtree(path, True)

        atexit.register(cleanup)
    from prometheus_client.values import close_all_multiprocess_files

    close_all_multiprocess_files()  # files opened before the directory was emptied
    rebuild_metrics(app)
    options["child_exit"] = _child_exit
    bind = settings.get("metrics", "bind")
    if bind:
        start_listener(app, bind)
    return options
