"""Figures `ops_overhead_kb_page` and `ops_overhead_kb_page_full_stack`: what metrics + logging cost per request.

Two `plugdesk serve` sites with the same seed: one as shipped (Prometheus metrics in multiprocess mode, one
JSON access record per request written to its log), one with ``[metrics] enabled = false`` and
``[logging] access = false``. Both serve the same KB article page and are measured alternately with wrk;
ratio = with / without (goal >= 0.95, i.e. at most 5 % overhead).
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.bench_pages import BYPASS, _seed, wrk_with_header
from benchmarks.common import figure, plugdesk_site, wrk

OFF = "[metrics]\nenabled = false\n\n[logging]\naccess = false\n"


def figures(quick: bool) -> list[dict[str, Any]]:
    """KB article page req/s with and without metrics + access logging, alternately, medians."""
    seconds, rounds = (3, 3) if quick else (8, 5)
    with plugdesk_site() as on_site, plugdesk_site(extra_toml=OFF) as off_site:
        on_url, off_url = on_site["url"] + _seed(on_site), off_site["url"] + _seed(off_site)
        for target in (on_url, off_url):
            wrk(target, 1)
            wrk_with_header(target, 1, BYPASS)
        on, off, on_full, off_full = [], [], [], []
        for _ in range(rounds):
            on.append(wrk(on_url, seconds))
            off.append(wrk(off_url, seconds))
            on_full.append(wrk_with_header(on_url, seconds, BYPASS))
            off_full.append(wrk_with_header(off_url, seconds, BYPASS))
    note = (f"wrk -t2 -c16, {rounds}x{seconds}s per target, alternately; `plugdesk serve` as shipped (metrics in "
            "prometheus_client multiprocess mode, a JSON access record per request) vs the same site with "
            "[metrics] enabled = false and [logging] access = false; client and servers share the 2 cores")
    return [
        figure("ops_overhead_kb_page", statistics.median(on), statistics.median(off), ">= 0.95", "req/s",
               "anonymous KB article page (served by the 1 s micro-cache; the request is still counted and "
               "logged); " + note),
        figure("ops_overhead_kb_page_full_stack", statistics.median(on_full), statistics.median(off_full),
               ">= 0.95", "req/s", "the same page with a cookie that bypasses the micro-cache (full Flask stack); "
               + note),
    ]
