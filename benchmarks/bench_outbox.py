"""Figures `outbox_send` (messages/s the worker drains to a local SMTP sink vs raw smtplib sending the same
messages over one connection, goal >= 0.8) and `reset_request` (p50 of POST /api/v1/auth/password-reset for an
existing vs an unknown account on a real `plugdesk serve`, ratio = unknown / known, goal >= 0.95)."""

from __future__ import annotations

import http.client
import json
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from benchmarks.common import figure, free_port, plugdesk_site

BODY = ("Agnes replied to your ticket #{i} (Support):\n\nPlease try again with the new version; it fixes the "
        "export.\n\n-- \nFollow or answer it at https://help.example.com/tickets/{i}\n")


def _sink() -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd's discarding sink in its own process (so it does not share a GIL with what is measured)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                             "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("aiosmtpd sink did not start")


def _raw_send(port: int, n: int) -> float:
    """Messages/s: build each message with the stdlib (text + HTML alternative) and send over one connection."""
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(n):
            msg = EmailMessage()
            msg["From"], msg["To"] = "Help Desk <help@example.com>", f"customer{i}@example.com"
            msg["Subject"], msg["Message-ID"] = f"[#{i}] Re: Export fails", f"<raw{i}.{time.time_ns()}@example.com>"
            text = BODY.format(i=i)
            msg.set_content(text)
            msg.add_alternative(f"<p>{text}</p>", subtype="html")
            client.send_message(msg)
    return n / (time.perf_counter() - t0)


def _drain(state: Any, n: int) -> float:
    """Messages/s: queue ``n`` (not timed), then one worker pass sends them (claim, build, send, record)."""
    from core.outbox import deliver_now

    for i in range(n):
        state.ctx.mail.send(f"customer{i}@example.com", f"[#{i}] Re: Export fails", BODY.format(i=i))
    t0 = time.perf_counter()
    report = deliver_now(state)
    elapsed = time.perf_counter() - t0
    if report.sent != n:
        raise RuntimeError(f"drained {report.sent} of {n}: {report.errors[:1]}")
    return n / elapsed


def outbox_send(quick: bool) -> dict[str, Any]:
    """The worker's drain rate vs raw smtplib, alternating rounds against the same sink."""
    from core.testing import make_test_app

    rounds, n = (9, 100) if quick else (21, 300)  # many short alternating rounds: load bursts hit both sides
    proc, port = _sink()
    try:
        app = make_test_app(Path(tempfile.mkdtemp(prefix="plugdesk-bench-outbox-")), ["auth_local"],
                            overrides={"mail": {"url": f"smtp://127.0.0.1:{port}",
                                                "sender": "Help Desk <help@example.com>"}})
        state = app.extensions["plugdesk"]
        _drain(state, 20), _raw_send(port, 20)  # warm up both
        pairs = [(_drain(state, n), _raw_send(port, n)) for _ in range(rounds)]
    finally:
        proc.terminate()
        proc.wait()
    drained, raw = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    return figure("outbox_send", drained, raw, ">= 0.8", "msg/s",
                  f"{rounds} alternating rounds of {n} messages, SQLite outbox (claim, render text+HTML, send over "
                  "one reused SMTP connection, commit each outcome) vs stdlib EmailMessage + smtplib over one "
                  "connection, both to aiosmtpd's Sink in its own process; ratio = median of the per-round ratios "
                  "(each pair measured back to back, so a burst of load on the shared machine hits both)",
                  ratio=statistics.median(d / r for d, r in pairs))


def _post_reset(conn: http.client.HTTPConnection, login: str, addr: str) -> float:
    body = json.dumps({"login": login})
    t0 = time.perf_counter()
    conn.request("POST", "/api/v1/auth/password-reset", body=body,
                 headers={"Content-Type": "application/json", "X-Forwarded-For": addr})
    r = conn.getresponse()
    r.read()
    elapsed = time.perf_counter() - t0
    if r.status != 202:
        raise RuntimeError(f"password reset answered {r.status}")
    return elapsed


def reset_request(quick: bool) -> dict[str, Any]:
    """p50 of the reset endpoint, existing account vs unknown, alternating request by request."""
    n = 150 if quick else 600

    def trust_one_proxy(config: Path) -> None:  # distinct client addresses stay under the per-address limit
        config.write_text(config.read_text().replace("[server]\n", "[server]\ntrusted_proxies = 1\n", 1))

    with plugdesk_site(workers=1, before_serve=trust_one_proxy) as site:
        host, port = site["url"].removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        known, unknown = [], []
        for i in range(n + 20):
            a, b = f"10.{i // 250 % 250}.{i % 250}.1", f"10.{i // 250 % 250}.{i % 250}.2"
            k, u = _post_reset(conn, "admin", a), _post_reset(conn, f"nobody-{i}", b)
            if i >= 20:  # warm-up done
                known.append(k)
                unknown.append(u)
        conn.close()
    known_p50, unknown_p50 = statistics.median(known), statistics.median(unknown)
    return figure("reset_request", known_p50 * 1000, unknown_p50 * 1000, ">= 0.95", "ms p50",
                  f"POST /api/v1/auth/password-reset on `plugdesk serve` (1 gunicorn worker + the embedded mail "
                  f"worker), {n} requests each, alternating; value = existing account, baseline = unknown account; "
                  "ratio = unknown / existing", ratio=unknown_p50 / known_p50)


#: Each figure on its own: ``python -m benchmarks --only outbox_send`` (or ``reset_request``).
FIGURES = {"outbox_send": outbox_send, "reset_request": reset_request}


def figures(quick: bool) -> list[dict[str, Any]]:
    """Both figures."""
    return [outbox_send(quick), reset_request(quick)]
