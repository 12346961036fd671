"""Run the app under gunicorn (``plugdesk serve``)."""

from __future__ import annotations

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


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings `serve` uses (the benchmarks use the same for their baseline)."""
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": 4,
            "timeout": 120, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
            "limit_request_line": 8190, "forwarded_allow_ips": "127.0.0.1"}


def run(app: Flask, host: str, port: int, workers: int, config: str | None = None) -> None:
    """Serve until interrupted. The app is built once and forked into the workers."""
    app.extensions["plugdesk"].db.dispose()  # no pooled connections may cross the fork
    _Gunicorn(app, gunicorn_options(host, port, workers)).run()
