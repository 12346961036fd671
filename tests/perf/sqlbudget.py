"""Count the SQL statements one request runs, and fail a test that goes over its budget.

Usage::

    response = within_budget(app, client, "/kb/1/slug", budget=5)

The runtime settings are read just before the request (they are cached for a second), so the count is the
page's own statements, not the once-a-second settings refresh that any request may happen to pay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Collect the text of every SQL statement the app's engine runs inside the block: through SQLAlchemy
    (``before_cursor_execute``) and through the precompiled reads (``Database.read_listeners``)."""
    db = app.extensions["plugdesk"].db
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    db.read_listeners.append(seen.append)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        db.read_listeners.remove(seen.append)


def within_budget(app: Flask, client: Any, url: str, budget: int, status: int = 200, **kwargs: Any) -> Any:
    """GET ``url`` with ``client`` (after one warm-up request) and assert it ran at most ``budget`` statements."""
    client.get(url, **kwargs)  # warm-up: first-use work (plugin caches, search index checks) is not per request
    app.extensions["plugdesk"].runtime._fresh()  # the settings are fresh for the next second
    with statements(app) as seen:
        response = client.get(url, **kwargs)
    assert response.status_code == status, (url, response.status_code)
    listing = "\n".join(f"  {i + 1}. {' '.join(s.split())[:160]}" for i, s in enumerate(seen))
    assert len(seen) <= budget, f"{url}: {len(seen)} SQL statements, budget {budget}:\n{listing}"
    return response
