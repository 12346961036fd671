"""Figure `login_page`: GET /login (CSRF token, session cookie, templates) vs bare Flask hello."""

from __future__ import annotations

from typing import Any

from benchmarks.common import alternate, bare_flask, figure, plugdesk_site, wrk


def figures(quick: bool) -> list[dict[str, Any]]:
    """Requests/s of the login page vs bare Flask, same gunicorn settings, alternating, medians."""
    seconds, rounds = (3, 3) if quick else (8, 5)
    with plugdesk_site() as site, bare_flask() as hello:
        wrk(f"{site['url']}/login", 1)  # warm up both
        wrk(hello, 1)
        page, base = alternate(lambda: wrk(f"{site['url']}/login", seconds), lambda: wrk(hello, seconds), rounds)
    return [figure("login_page", page, base, "report", "req/s",
                   f"wrk -t2 -c16, {rounds}x{seconds}s alternating, gunicorn as `serve` runs it (what `init` writes: "
                   "local:// limits, one process per core x 4 threads, SO_REUSEPORT) for both; client and server "
                   "share the cores")]
