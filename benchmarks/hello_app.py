"""The baseline: a bare Flask hello-world served with the same gunicorn options as `plugdesk serve`."""

from __future__ import annotations

from flask import Flask

from core.serve import _Gunicorn, gunicorn_options

app = Flask("hello")


@app.get("/")
def hello() -> str:
    """Hello, world."""
    return "Hello, world!"


def run(port: int, workers: int, threads: int) -> None:
    """Serve on 127.0.0.1:port."""
    _Gunicorn(app, gunicorn_options("127.0.0.1", port, workers, threads)).run()
