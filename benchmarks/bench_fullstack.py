"""Pages people see, without the micro-cache, vs bare Flask; all cores; worker memory (issue 22).

* ``kb_home_full_stack``, ``kb_category_full_stack`` - the KB home and a category page (20 of 200 articles) with
  the voter cookie that bypasses the anonymous micro-cache. Goal >= 0.30 of bare Flask.
* ``my_tickets_page`` - a logged-in customer's "My tickets" (50 tickets). Goal >= 0.30.
* ``agent_queue_page`` - an agent's queue filtered to their 50 tickets of 100,000, sorted. Goal >= 0.25.
* ``serve_scaling`` - default ``plugdesk serve`` (``local://`` counters: one process per core) vs the same site
  with ``--workers 1``, on the full-stack article page. Goal >= 1.6 on 2 cores.
* ``rss_worker_idle`` / ``rss_worker_after_10k`` - the largest worker's RSS (MiB) after start and after 10,000
  mixed page views; baseline is a bare Flask worker under the same gunicorn settings (ratio = baseline / value).

Every page figure is plugdesk req/s / bare Flask req/s, measured alternately in one run with wrk -t2 -c16
(``plugdesk serve`` and the bare Flask app use the same gunicorn settings, :func:`core.serve.plan_workers`).
"""

from __future__ import annotations

import functools
import http.cookiejar
import re
import sqlite3
import statistics
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_pages import BODY, BYPASS, wrk_with_header
from benchmarks.common import BIN, bare_flask, figure, plugdesk_site, wrk

TS = "2026-01-01 10:00:00.000000"
PASSWORDS = {"carla": "customer benchmark password", "alex": "agent benchmark password"}
TICKETS, ARTICLES = 100_000, 200


def _seed(config: Path) -> None:
    """200 published articles (20 in category 1), carla with 50 tickets, agent alex assigned 50 of 100,000."""
    for name, role in (("carla", "user"), ("alex", "agent")):
        pw = config.parent / f"{name}.pw"
        pw.write_text(PASSWORDS[name])
        subprocess.run([str(BIN / "plugdesk"), "--config", str(config), "users", "create", "--username", name,
                        "--email", f"{name}@example.com", "--role", role, "--password-file", str(pw), "--verified"],
                       check=True, capture_output=True)
    db = sqlite3.connect(config.parent / "plugdesk.db")
    ids = dict(db.execute("SELECT username_key, id FROM users WHERE username_key IN ('carla', 'alex')").fetchall())
    db.execute("INSERT INTO departments (id, name, description, public, created_at) VALUES (1001, 'Support', '', 1, "
               "?)", (TS,))
    db.execute("INSERT INTO department_agents (department_id, user_id) VALUES (1001, ?)", (ids["alex"],))
    db.execute("INSERT INTO kb_categories (id, parent_id, name, slug, position) VALUES (1, NULL, 'Accounts', "
               "'accounts', 0)")
    db.executemany(
        "INSERT INTO tickets (id, subject, department_id, customer_id, assignee_id, guest_email, status, locked, "
        "created_at, updated_at) VALUES (?, ?, 1001, ?, ?, 'guest@example.org', ?, 0, ?, ?)",
        [(i + 1, f"Ticket {i}", ids["carla"] if i % 2000 == 0 else None, ids["alex"] if i % 2000 == 1 else None,
          ("open", "waiting", "closed")[i % 3], TS, TS) for i in range(TICKETS)])
    db.executemany(
        "INSERT INTO kb_articles (id, category_id, title, slug, body_html, body_text, published, created_at, "
        "updated_at, published_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        [(i + 1, 1 if i % 10 == 0 else None, f"How to configure feature {i}", f"how-to-configure-feature-{i}", BODY,
          "Step 0 Open Settings, choose Accounts and follow the guide.", TS, TS, TS) for i in range(ARTICLES)])
    db.commit()
    db.execute("ANALYZE")
    db.close()


def session_cookie(url: str, username: str, password: str) -> str:
    """A ``Cookie:`` header of a session logged in through the login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login", timeout=10).read().decode()
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError(f"{url}/login: no CSRF token on the page")
    token = found.group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    opener.open(f"{url}/login", data=data, timeout=10).read()
    cookie = next(c for c in jar if c.name == "plugdesk_session")
    return f"Cookie: plugdesk_session={cookie.value}"


def _pages(url: str) -> dict[str, tuple[str, str]]:
    return {"kb_home_full_stack": (f"{url}/kb", BYPASS),
            "kb_category_full_stack": (f"{url}/kb/category/1", BYPASS),
            "my_tickets_page": (f"{url}/tickets", session_cookie(url, "carla", PASSWORDS["carla"])),
            "agent_queue_page": (f"{url}/manage/tickets?status=all&mine=1&sort=created",
                                 session_cookie(url, "alex", PASSWORDS["alex"])),
            "agent_queue_search": (f"{url}/manage/tickets?status=all&q=ticket+9999",
                                   session_cookie(url, "alex", PASSWORDS["alex"]))}


def _worker_rss(master: int, site: dict[str, Any] | None = None) -> list[float]:
    """RSS (MiB) of each gunicorn worker of a master (for a plugdesk site: the pids its log says gunicorn
    booted, not the embedded background worker, which is a child of the master too)."""
    out = subprocess.run(["ps", "-o", "pid=,rss=", "--ppid", str(master)], capture_output=True, text=True).stdout
    rss = {int(pid): int(kib) / 1024 for pid, kib in (line.split() for line in out.splitlines() if line.strip())}
    if site is not None:
        log = (site["data"].parent / "serve.log").read_text(errors="replace")
        booted = {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log)}
        rss = {pid: v for pid, v in rss.items() if pid in booted}
    return list(rss.values())


def _pss(master: int, site: dict[str, Any]) -> float:
    """The largest worker's proportional set size (MiB): shared pages counted once per sharer."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    log = (site["data"].parent / "serve.log").read_text(errors="replace")
    booted = {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log)}
    best = 0.0
    for pid in (int(p) for p in out.split() if int(p) in booted):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        found = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        best = max(best, int(found.group(1)) / 1024 if found else 0.0)
    return best


def _mixed(targets: list[tuple[str, str]], total: int) -> None:
    """About ``total`` requests spread over ``targets`` (wrk runs of 2 s, round robin)."""
    done, i = 0, 0
    while done < total:
        url, header = targets[i % len(targets)]
        done += int(wrk_with_header(url, 2, header) * 2)
        i += 1


def figures(quick: bool) -> list[dict[str, Any]]:
    """The page ratios, the scaling of the default `serve` and the worker memory."""
    seconds, rounds = (3, 3) if quick else (8, 5)
    note = (f"wrk -t2 -c16, {rounds}x{seconds}s alternating with the baseline in one run; plugdesk serve and the "
            "bare Flask app under the same gunicorn settings (core.serve: local:// counters, one process per "
            "core x 4 threads); client and servers share the cores")
    with plugdesk_site(before_serve=_seed) as site, bare_flask() as hello:
        hello_rss = max(_worker_rss(_gunicorn_master(hello)) or [0.0])
        idle_rss = max(_worker_rss(site["proc"].pid, site) or [0.0])
        idle_pss = _pss(site["proc"].pid, site)
        pages = _pages(site["url"])
        for target, header in pages.values():
            wrk_with_header(target, 1, header)
        wrk(hello, 1)
        runs: dict[str, list[float]] = {name: [] for name in pages}
        bases: list[float] = []
        for _ in range(rounds):
            # a browser keeps the cookie the server re-signs after a minute of use; wrk replays one cookie, so
            # the logged-in pages log in again each round (as a browser's cookie is at most a minute old)
            pages = _pages(site["url"])
            for name, (target, header) in pages.items():
                runs[name].append(wrk_with_header(target, seconds, header))
                bases.append(wrk(hello, seconds))
        _mixed([*pages.values(), (f"{site['url']}/login", "X-Bench: 1")], 10_000)
        after_rss = max(_worker_rss(site["proc"].pid, site) or [0.0])
        after_pss = _pss(site["proc"].pid, site)
    base = statistics.median(bases)
    goals = {"kb_home_full_stack": ">= 0.30", "kb_category_full_stack": ">= 0.30", "my_tickets_page": ">= 0.30",
             "agent_queue_page": ">= 0.25", "agent_queue_search": "(info)"}
    what = {"kb_home_full_stack": "GET /kb with the voter cookie (micro-cache bypassed)",
            "kb_category_full_stack": "GET /kb/category/1 (20 of 200 articles), micro-cache bypassed",
            "my_tickets_page": "a logged-in customer's /tickets (50 tickets)",
            "agent_queue_page": "an agent's /manage/tickets?mine=1&sort=created: 50 of 100,000 tickets",
            "agent_queue_search": "an agent's queue searched for 'ticket 9999' (11 of 100,000 tickets match; "
                                  "the trigram index, core.tickets.search)"}
    out = [figure(name, statistics.median(r), base, goals[name], "req/s", f"{what[name]}; {note}")
           for name, r in runs.items()]
    out += _memory_figures(hello_rss, (idle_rss, idle_pss), (after_rss, after_pss))
    out.append(_scaling(seconds, rounds))
    return out


def _memory_figures(hello_rss: float, idle: tuple[float, float], after: tuple[float, float]) -> list[dict[str, Any]]:
    """``rss_worker_idle`` and ``rss_worker_after_10k`` from (RSS, PSS) pairs in MiB."""
    return [figure("rss_worker_idle", idle[0], hello_rss, "<= 60", "MiB",
                   "largest `plugdesk serve` worker after start (app built in the master and forked); baseline: a "
                   f"bare Flask gunicorn worker; ratio = baseline / value; PSS (shared pages split) {idle[1]:.1f} MiB",
                   ratio=hello_rss / idle[0]),
            figure("rss_worker_after_10k", after[0], hello_rss, "<= 90", "MiB",
                   "largest worker after the page runs above plus >= 10,000 mixed page views (KB home, category, "
                   f"My tickets, agent queue, login); ratio = baseline / value; PSS {after[1]:.1f} MiB",
                   ratio=hello_rss / after[0])]


@functools.cache
def _memory(quick: bool) -> dict[str, dict[str, Any]]:
    """Only the two memory figures (``--only rss_worker_idle rss_worker_after_10k``): the same site, the same
    page runs on the plugdesk side (without the baseline's runs in between, which do not touch its workers)
    and the same 10,000 mixed page views as :func:`figures`; measured once for both names."""
    seconds, rounds = (3, 3) if quick else (8, 5)
    with plugdesk_site(before_serve=_seed) as site, bare_flask() as hello:
        hello_rss = max(_worker_rss(_gunicorn_master(hello)) or [0.0])
        idle = (max(_worker_rss(site["proc"].pid, site) or [0.0]), _pss(site["proc"].pid, site))
        pages = _pages(site["url"])
        for target, header in pages.values():
            wrk_with_header(target, 1, header)
        for _ in range(rounds):
            for target, header in pages.values():
                wrk_with_header(target, seconds, header)
        _mixed([*pages.values(), (f"{site['url']}/login", "X-Bench: 1")], 10_000)
        after = (max(_worker_rss(site["proc"].pid, site) or [0.0]), _pss(site["proc"].pid, site))
    return {f["name"]: f for f in _memory_figures(hello_rss, idle, after)}


FIGURES = {"rss_worker_idle": lambda quick: _memory(quick)["rss_worker_idle"],
           "rss_worker_after_10k": lambda quick: _memory(quick)["rss_worker_after_10k"]}


def _gunicorn_master(url: str) -> int:
    """The gunicorn master of the server on ``url``'s port: the parent of the processes listening there
    (each worker has its own SO_REUSEPORT listener)."""
    port = urllib.parse.urlsplit(url).port
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    listener = re.search(r"pid=(\d+)", out)
    if listener is None:
        raise RuntimeError(f"nothing listens on port {port}")
    pid = int(listener.group(1))
    parent = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return pid if children.split() else int(parent)


def _scaling(seconds: int, rounds: int) -> dict[str, Any]:
    """Default `serve` (one process per core) vs `--workers 1` on the full-stack article page."""
    path = "/kb/101/how-to-configure-feature-100"
    with plugdesk_site(before_serve=_seed) as many, plugdesk_site(workers=1, before_serve=_seed) as one:
        for site in (many, one):
            wrk_with_header(site["url"] + path, 1, BYPASS)
        a, b = [], []
        for _ in range(rounds):
            a.append(wrk_with_header(many["url"] + path, seconds, BYPASS))
            b.append(wrk_with_header(one["url"] + path, seconds, BYPASS))
        workers = len(_worker_rss(many["proc"].pid, many))
    return figure("serve_scaling", statistics.median(a), statistics.median(b), ">= 1.6 on 2 cores", "req/s",
                  f"default `plugdesk serve` ({workers} worker processes x 4 threads, local:// counters) vs "
                  f"`--workers 1` (8 threads) on the full-stack article page; wrk -t2 -c16 alternating, "
                  f"{rounds}x{seconds}s; wrk shares the cores with the servers")
