"""Run the app under gunicorn (``plugdesk serve``)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def plan_workers(limits_storage: str, requested: int | None) -> tuple[int, int, str]:
    """Worker processes and threads for `serve`, with a note for the operator.

    With ``memory://`` limits, counters (lockouts, rate limits, captcha nonces) live in one process, so
    `serve` runs one process with threads; with Redis every process shares them and several processes are
    used. Asking for several processes with ``memory://`` works but counts per process (warned).
    """
    shared = not limits_storage.startswith("memory://")
    if requested is None:
        requested = min(8, 2 * (os.cpu_count() or 1) + 1) if shared else 1
    note = ""
    if requested > 1 and not shared:
        note = ("warning: [limits] storage = memory:// with several workers counts failed logins and rate limits "
                "per worker; use redis:// to share them")
    return requested, (4 if requested > 1 else 8), note


def gunicorn_options(host: str, port: int, workers: int, threads: int = 4) -> dict[str, Any]:
    """The gunicorn settings `serve` uses (the benchmarks use the same for their baseline).

    gunicorn trusts no forwarded header from any address (``forwarded_allow_ips`` empty, no secure scheme
    headers): the app's ProxyFix alone reads ``X-Forwarded-*``, and only from ``server.trusted_proxies`` hops,
    so with ``trusted_proxies = 0`` a client on 127.0.0.1 cannot claim https with ``X-Forwarded-Proto``.
    """
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
            "timeout": 120, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
            "limit_request_line": 8190, "forwarded_allow_ips": "", "secure_scheme_headers": {}}


def run(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. The app is built once and forked into the workers."""
    from core.ops.serving import prepare

    options = {**gunicorn_options(host, port, workers, threads), **prepare(app)}  # logs, multiprocess metrics
    app.extensions["plugdesk"].db.dispose()  # no pooled connections may cross the fork
    from core.worker.runner import start_embedded

    start_embedded(app)  # the background worker (mail outbox, periodic jobs) unless [worker] embedded = false
    _Gunicorn(app, options).run()
