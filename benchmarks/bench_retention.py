"""Retention pass vs the equivalent raw set-based SQL, in the same run.

``figures(quick)`` seeds N tickets in one department (10% waiting with an old agent reply, eligible for
auto-close), then times (a) plugdesk's ``run_retention`` (cluster lock, the retention_departments plugin,
batched guarded UPDATE ... RETURNING + history + audit INSERT ... SELECT) and (b) the same work as three raw
statements in one transaction on an identical copy. ratio = raw time / plugdesk time (goal >= 0.67, i.e.
plugdesk at most 1.5x the raw SQL). N = 1,000,000 (quick: 100,000). SQLite always; PostgreSQL too when
``PLUGDESK_BENCH_PG_URL`` names an empty database server URL (``postgresql+psycopg://user@host:port``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
PLUGINS = ["auth_local", "retention_departments"]
REPEATS = 3


def _seed(engine: Any, n: int) -> None:
    import core.models
    import core.retention
    import core.tickets  # noqa: F401 - register the tables
    from core.db import Base

    Base.metadata.create_all(engine)
    sqlite = engine.dialect.name == "sqlite"

    def ts(d: datetime) -> Any:
        return d.replace(tzinfo=None).isoformat(sep=" ") if sqlite else d

    old, recent = ts(NOW - timedelta(days=30)), ts(NOW - timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO departments (id, name, description, public, auto_close_days, created_at) "
                          "VALUES (1, 'Support', '', true, 14, :t)"), {"t": old})
        chunk = 50_000
        for start in range(0, n, chunk):
            rows = [{"id": i + 1, "s": "waiting" if i % 10 == 0 else "open", "a": old if i % 10 == 0 else recent,
                     "t": old} for i in range(start, min(n, start + chunk))]
            conn.execute(text("INSERT INTO tickets (id, subject, department_id, guest_email, status, locked, "
                              "created_at, updated_at, last_agent_reply_at) VALUES (:id, 'subject', 1, "
                              "'g@example.org', :s, false, :t, :t, :a)"), rows)


RAW = [
    "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) SELECT id, :now, 'retention', 'auto_closed', "
    "'{\"rule\": \"auto_close_days\", \"days\": 14}' FROM tickets WHERE department_id = 1 AND status = 'waiting' "
    "AND last_agent_reply_at < :before",
    "INSERT INTO audit_log (at, actor, ip, action, target, old, new) SELECT :now, 'retention', '', "
    "'ticket.retention_close', 'ticket:' || CAST(id AS VARCHAR), '{\"status\": \"waiting\"}', "
    "'{\"rule\": \"auto_close_days\", \"days\": 14}' FROM tickets WHERE department_id = 1 AND status = 'waiting' "
    "AND last_agent_reply_at < :before",
    "UPDATE tickets SET status = 'closed', closed_at = :now, updated_at = :now WHERE department_id = 1 "
    "AND status = 'waiting' AND last_agent_reply_at < :before",
]


def _raw(engine: Any) -> float:
    sqlite = engine.dialect.name == "sqlite"
    params = {"now": NOW.replace(tzinfo=None).isoformat(sep=" ") if sqlite else NOW,
              "before": (NOW - timedelta(days=14)).replace(tzinfo=None).isoformat(sep=" ") if sqlite
              else NOW - timedelta(days=14)}
    start = time.perf_counter()
    with engine.begin() as conn:
        for sql in RAW:
            conn.execute(text(sql), params)
    return time.perf_counter() - start


def _plugdesk(url: str, data_dir: Path, expected: int) -> float:
    from core.app import create_app
    from core.retention import run_retention
    from core.settings import load_settings

    app = create_app(load_settings(None, environ={}, overrides={
        "server": {"data_dir": str(data_dir), "secret_key": "bench"}, "database": {"url": url},
        "plugins": {"enabled": PLUGINS}, "logging": {"level": "WARNING"}}))
    st = app.extensions["plugdesk"]
    start = time.perf_counter()
    result = run_retention(st, NOW)
    elapsed = time.perf_counter() - start
    closed = result.counts()["Support"]["closed"]
    st.db.dispose()
    if closed != expected:
        raise RuntimeError(f"plugdesk closed {closed}, expected {expected}")
    return elapsed


def _figure(name: str, n: int, ours: float, raw: float, note: str) -> dict[str, Any]:
    return {"name": name, "value": round(ours, 3), "baseline": round(raw, 3), "ratio": round(raw / ours, 3),
            "goal": 0.67, "unit": "s", "note": note}


def _sqlite(n: int) -> dict[str, Any]:
    from core.db import make_engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    try:
        template = tmp / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        _seed(engine, n)
        engine.dispose()
        ours_times, raw_times = [], []
        for i in range(REPEATS):  # best of REPEATS on fresh copies: the machine may be shared
            ours_db, raw_db = tmp / f"ours{i}.db", tmp / f"raw{i}.db"
            shutil.copy(template, ours_db)
            shutil.copy(template, raw_db)
            raw_engine = make_engine(f"sqlite:///{raw_db}")
            raw_times.append(_raw(raw_engine))
            raw_engine.dispose()
            ours_times.append(_plugdesk(f"sqlite:///{ours_db}", tmp, n // 10))
        return _figure(f"retention pass, {n:,} tickets (10% eligible), SQLite", n, min(ours_times), min(raw_times),
                       f"best of {REPEATS}; plugdesk: lock + plugin + batched UPDATE..RETURNING/history/audit; "
                       "raw: 3 statements in one transaction")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _postgres(n: int, server: str) -> dict[str, Any]:
    import psycopg

    from core.db import make_engine

    dsn = server.replace("postgresql+psycopg://", "postgresql://")
    names = [f"bench_{secrets.token_hex(4)}" for _ in range(2)]
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE DATABASE {name}")
    try:
        urls = [f"{server}/{name}" for name in names]
        for url in urls:
            engine = make_engine(url)
            _seed(engine, n)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            engine.dispose()
        raw_engine = make_engine(urls[1])
        raw = _raw(raw_engine)
        raw_engine.dispose()
        tmp = Path(tempfile.mkdtemp(prefix="bench-retention-"))
        ours = _plugdesk(urls[0], tmp, n // 10)
        shutil.rmtree(tmp, ignore_errors=True)
        return _figure(f"retention pass, {n:,} tickets (10% eligible), PostgreSQL", n, ours, raw,
                       "same work as the SQLite figure, on PostgreSQL")
    finally:
        with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")


def figures(quick: bool) -> list[dict[str, Any]]:
    """The retention figures (see the module docstring)."""
    n = 100_000 if quick else 1_000_000
    out = [_sqlite(n)]
    server = os.environ.get("PLUGDESK_BENCH_PG_URL")
    if server:
        out.append(_postgres(n, server))
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figures("--full" not in sys.argv), indent=2))
