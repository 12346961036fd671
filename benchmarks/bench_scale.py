"""Figure `scale_*`: page requests/s with a big database vs a small one (goal >= 0.9).

Small: 10,000 tickets and 1,000 KB articles. Large: 1,000,000 tickets and 100,000 KB articles (quick mode:
200,000 and 20,000). Rows are bulk-inserted with SQL before `plugdesk serve` starts; the pages measured are an
anonymous KB article page (microcache bypassed, as for a returning reader), the KB home page, and a
customer's "My tickets" page (real session cookie).
"""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_pages import BODY, BYPASS, wrk_with_header
from benchmarks.common import BIN, figure, plugdesk_site

TS = "2026-01-01 10:00:00.000000"
CUSTOMER_PW = "customer benchmark password"


def _seed(config: Path, tickets: int, articles: int) -> None:
    pw = config.parent / "customer.pw"
    pw.write_text(CUSTOMER_PW)
    subprocess.run([str(BIN / "plugdesk"), "--config", str(config), "users", "create", "--username", "carla",
                    "--email", "carla@example.com", "--role", "user", "--password-file", str(pw), "--verified"],
                   check=True, capture_output=True)
    db = sqlite3.connect(config.parent / "plugdesk.db")
    customer = db.execute("SELECT id FROM users WHERE username_key = 'carla'").fetchone()[0]
    db.execute("INSERT INTO departments (id, name, description, public, created_at) VALUES (1, 'Support', '', 1, ?)",
               (TS,))
    chunk = 50_000
    for start in range(0, tickets, chunk):
        db.executemany(
            "INSERT INTO tickets (id, subject, department_id, customer_id, guest_email, status, locked, created_at, "
            "updated_at) VALUES (?, ?, 1, ?, ?, ?, 0, ?, ?)",
            [(i + 1, f"Ticket {i}", customer if i % (tickets // 20) == 0 else None, "guest@example.org",
              ("open", "waiting", "closed")[i % 3], TS, TS) for i in range(start, min(tickets, start + chunk))])
    for start in range(0, articles, chunk):
        db.executemany(
            "INSERT INTO kb_articles (id, title, slug, body_html, body_text, published, created_at, updated_at, "
            "published_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
            [(i + 1, f"How to configure feature {i}", f"how-to-configure-feature-{i}", BODY, "configure feature",
              TS, TS, TS) for i in range(start, min(articles, start + chunk))])
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _session_cookie(url: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": "carla", "password": CUSTOMER_PW}).encode()
    opener.open(f"{url}/login", data=data, timeout=10).read()
    cookie = next(c for c in jar if c.name == "plugdesk_session")
    return f"Cookie: plugdesk_session={cookie.value}"


def _pages(site: dict[str, Any], articles: int) -> dict[str, tuple[str, str]]:
    url = site["url"]
    mid = articles // 2
    return {"kb_article": (f"{url}/kb/{mid}/how-to-configure-feature-{mid - 1}", BYPASS),
            "kb_home": (f"{url}/kb", BYPASS),
            "my_tickets": (f"{url}/tickets", _session_cookie(url))}


def figures(quick: bool) -> list[dict[str, Any]]:
    """The same pages on a small and a large database, served side by side with the same settings and
    measured alternately; ratio = large / small."""
    seconds, rounds = (2, 3) if quick else (5, 3)
    big_tickets, big_articles = (200_000, 20_000) if quick else (1_000_000, 100_000)
    with plugdesk_site(before_serve=lambda config: _seed(config, 10_000, 1_000)) as small_site, \
            plugdesk_site(before_serve=lambda config: _seed(config, big_tickets, big_articles)) as large_site:
        small, large = _pages(small_site, 1_000), _pages(large_site, big_articles)
        for target, header in [*small.values(), *large.values()]:
            wrk_with_header(target, 1, header)
        results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in small}
        for _ in range(rounds):
            for name in small:
                results[name][0].append(wrk_with_header(small[name][0], seconds, small[name][1]))
                results[name][1].append(wrk_with_header(large[name][0], seconds, large[name][1]))
    out = []
    for name, (s_runs, l_runs) in results.items():
        s_med, l_med = sorted(s_runs)[len(s_runs) // 2], sorted(l_runs)[len(l_runs) // 2]
        out.append(figure(f"scale_{name}", l_med, s_med, ">= 0.9", "req/s",
                          f"{big_tickets:,} tickets + {big_articles:,} KB articles vs 10,000 + 1,000, both servers "
                          "up, measured alternately; wrk -t2 -c16; client and servers share the 2 cores"))
    return out
