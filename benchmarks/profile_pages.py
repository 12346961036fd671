"""Profile the pages people see, in process: SQL statements, database sessions, Python calls and time per request.

``python -m benchmarks.profile_pages [--root DIR] [--out FILE.json] [--top N]``

Builds a site like :mod:`benchmarks.bench_fullstack` (200 KB articles, 20 in a category; a customer with 50
tickets; an agent assigned 50 of 100,000), then requests each page through the whole WSGI stack with Flask's
test client (the micro-cache bypassed with the voter cookie) and reports, per request: SQL statements,
SQLAlchemy sessions opened, Python function calls (cProfile; stable from run to run, unlike time on a shared
machine), median milliseconds of 5 x 100 requests, and the top entries by cumulative time. ``--root`` profiles
another checkout of the code (e.g. ``git archive HEAD | tar -x -C /tmp/before``) for before/after tables.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGES = {"kb_article": (None, "/kb/101/how-to-configure-feature-100"), "login": (None, "/login"),
         "kb_home": (None, "/kb"), "kb_category": (None, "/kb/category/1"), "my_tickets": ("carla", "/tickets"),
         "agent_queue": ("alex", "/manage/tickets?status=all&mine=1&sort=created")}
TOP = (r"/core/|site-packages/(flask_limiter|flask_wtf)|jinja2/environment.py:\d+\(render\)|"
       r"sqlalchemy/orm/session.py:\d+\(execute\)|flask/sessions")


def _site(root: str) -> Any:
    """``plugdesk init`` (with the profiled code) + the bench_fullstack seed; the app."""
    tmp = Path(tempfile.mkdtemp(prefix="plugdesk-profile-"))
    (tmp / "pw").write_text("benchmark admin password")
    cli = f"import sys; sys.path.insert(0, {root!r}); sys.argv[0] = 'plugdesk'; from core.cli import main; main()"
    subprocess.run([sys.executable, "-c", cli, "init", "--data-dir", str(tmp / "d"), "--admin-password-file",
                    str(tmp / "pw")], check=True, capture_output=True)
    config = tmp / "d" / "plugdesk.toml"
    config.write_text(config.read_text().replace("local://", "memory://"))  # older checkouts know memory:// only
    spec = importlib.util.spec_from_file_location("_seed", HERE / "bench_fullstack.py")
    assert spec is not None and spec.loader is not None
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    seed._seed(config)
    sys.path.insert(0, root)
    from core.app import create_app

    return create_app(str(config)), seed.PASSWORDS


def profile(root: str, top: int = 12) -> dict[str, dict[str, Any]]:
    """The per-page summary (see the module docstring)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    app, passwords = _site(root)
    st = app.extensions["plugdesk"]
    seen = {"sql": 0, "sessions": 0}
    event.listen(st.db.engine, "before_cursor_execute", lambda *_a: seen.__setitem__("sql", seen["sql"] + 1))
    st.db.read_listeners.append(lambda _sql: seen.__setitem__("sql", seen["sql"] + 1))  # precompiled reads
    event.listen(Session, "after_begin", lambda *_a: seen.__setitem__("sessions", seen["sessions"] + 1))

    def client(who: str | None) -> Any:
        c = app.test_client()
        c.set_cookie("plugdesk_kbv", "benchmark-voter-token-0123456789")
        if who:
            page = c.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore
            c.post("/login", data={"csrf_token": token, "username": who, "password": passwords[who]})
        return c

    out: dict[str, dict[str, Any]] = {}
    for name, (who, url) in PAGES.items():
        c = client(who)
        for _ in range(10):
            assert c.get(url).status_code == 200, (name, url)
        st.runtime._fresh()
        seen["sql"] = seen["sessions"] = 0
        c.get(url)
        counts = dict(seen)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(100):
                c.get(url)
            runs.append((time.perf_counter() - started) * 10)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(100):
            c.get(url)
        prof.disable()
        stats = pstats.Stats(prof)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(TOP, top)
        rows = []
        for line in text.getvalue().splitlines():
            parts = line.split()
            try:
                cumulative = float(parts[3])
            except (ValueError, IndexError):
                continue
            where = re.sub(r"^.*?/(site-packages|core)/", lambda m: "" if m.group(1) == "site-packages" else "core/",
                           " ".join(parts[5:]))
            rows.append(f"{100 * cumulative / stats.total_tt:5.1f}%  {where}")  # type: ignore[attr-defined]
        out[name] = {"sql": counts["sql"], "db_transactions": counts["sessions"],
                     "calls": stats.total_calls // 100,  # type: ignore[attr-defined]
                     "ms": round(statistics.median(runs), 2), "top": rows}
        print(f"{name:<12} sql {counts['sql']:>2}  transactions {counts['sessions']:>2}  calls "
              f"{out[name]['calls']:>6}  {out[name]['ms']:>6} ms", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_pages")
    parser.add_argument("--root", default=str(HERE.parent), help="checkout whose core/ is profiled")
    parser.add_argument("--out", help="write the summary as JSON")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    found = profile(str(Path(args.root).resolve()), args.top)
    if args.out:
        Path(args.out).write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
