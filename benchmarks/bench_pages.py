"""Figures `kb_article_page` and `rss_newest`: anonymous KB article page and the cached RSS feed vs bare Flask."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import urllib.request
from typing import Any

from benchmarks.common import bare_flask, figure, plugdesk_site, wrk

# A cookie that makes the one-second micro-cache step aside (the reader "already rated"), so the
# request runs through the whole Flask stack: what a returning reader's browser costs.
BYPASS = "Cookie: plugdesk_kbv=benchmark-voter-token-0123456789"

BODY = "".join(f"<h2>Step {i}</h2><p>Open <strong>Settings</strong>, choose <em>Accounts</em> and follow the "
               f'<a href="https://example.com/{i}">guide</a>.</p><ul><li>one</li><li>two</li></ul>' for i in range(8))


def _api(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def wrk_with_header(url: str, seconds: float, header: str) -> float:
    """Like :func:`benchmarks.common.wrk` (same -t2 -c16), sending one extra request header."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    out = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "-H", header, url], check=True,
                         capture_output=True, text=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"{url}: error responses during the benchmark")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def _seed(site: dict[str, Any]) -> str:
    """30 published articles (the feed's default 25 are full); returns the path of one article page."""
    url = site["url"]
    token = _api(f"{url}/api/v1/auth/login", {"username": "admin", "password": site["admin_password"]})["token"]
    article: dict[str, Any] = {}
    for i in range(30):
        article = _api(f"{url}/api/v1/kb/articles", {"title": f"How to configure feature {i}", "body_html": BODY,
                                                     "published": True}, token)
    return f"/kb/{article['id']}/{article['slug']}"


def figures(quick: bool) -> list[dict[str, Any]]:
    """Requests/s of an anonymous article page and of /rss/kb/newest vs bare Flask, alternating, medians."""
    seconds, rounds = (3, 3) if quick else (8, 5)
    with plugdesk_site() as site, bare_flask() as hello:
        page_url = site["url"] + _seed(site)
        feed_url = site["url"] + "/rss/kb/newest"
        for target in (page_url, feed_url, hello):  # warm up caches and connections
            wrk(target, 1)
        pages, feeds, bases, full_pages, full_feeds = [], [], [], [], []
        for _ in range(rounds):
            pages.append(wrk(page_url, seconds))
            bases.append(wrk(hello, seconds))
            feeds.append(wrk(feed_url, seconds))
            bases.append(wrk(hello, seconds))
            full_pages.append(wrk_with_header(page_url, seconds, BYPASS))
            full_feeds.append(wrk_with_header(feed_url, seconds, BYPASS))
            bases.append(wrk(hello, seconds))
    base = statistics.median(bases)
    note = (f"wrk -t2 -c16, {rounds}x{seconds}s per target, measured alternately with the baseline in one run; "
            "plugdesk serve and the bare Flask hello app use the same gunicorn settings (core.serve); client and "
            "server share the 2 cores")
    return [
        figure("kb_article_page", statistics.median(pages), base, ">= 0.50", "req/s",
               "anonymous GET (no cookie) of a published article, served by the 1 s anonymous micro-cache "
               "(core/kb/microcache.py) in front of the Flask stack; " + note),
        figure("rss_newest", statistics.median(feeds), base, ">= 0.80", "req/s",
               "GET /rss/kb/newest (25 items), plain GETs without If-None-Match, served by the micro-cache; "
               + note),
        figure("kb_article_page_full_stack", statistics.median(full_pages), base, "(info)", "req/s",
               "the same article page with a voter cookie, which bypasses the micro-cache: template, session "
               "and CSRF token, runtime settings, security headers on every request; " + note),
        figure("rss_newest_full_stack", statistics.median(full_feeds), base, "(info)", "req/s",
               "the feed with a cookie that bypasses the micro-cache: full Flask stack, XML from the "
               "in-process feed cache (one stamp query every 2 s); " + note),
    ]
