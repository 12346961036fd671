"""Shared pieces for benchmarks: real servers, wrk, medians, figure records."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def figure(name: str, value: float, baseline: float, goal: str, unit: str, note: str = "",
           ratio: float | None = None) -> dict[str, Any]:
    """One result row; ``ratio`` defaults to value / baseline (throughputs)."""
    return {"name": name, "value": round(value, 3), "baseline": round(baseline, 3),
            "ratio": round(ratio if ratio is not None else (value / baseline if baseline else 0.0), 3),
            "goal": goal, "unit": unit, "note": note}


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def process(argv: list[str], ready_url: str, env: dict[str, str] | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; stop it by PID."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            cwd=ROOT)
    try:
        wait_http(ready_url, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def plugdesk_site(workers: int | None = None, extra_toml: str = "",
                  before_serve: Any = None) -> Iterator[dict[str, Any]]:
    """``plugdesk init`` in a temp dir + ``plugdesk serve`` (gunicorn exactly as `serve` runs it).

    ``before_serve(config_path)`` may seed the database between the two.
    """
    tmp = Path(tempfile.mkdtemp(prefix="plugdesk-bench-"))
    port = free_port()
    pw = tmp / "pw"
    pw.write_text("benchmark admin password")
    subprocess.run([str(BIN / "plugdesk"), "init", "--data-dir", str(tmp / "d"), "--admin-password-file", str(pw),
                    "--port", str(port), "--base-url", f"http://127.0.0.1:{port}"], check=True,
                   capture_output=True)
    config = tmp / "d" / "plugdesk.toml"
    if extra_toml:
        config.write_text(config.read_text() + "\n" + extra_toml)
    if before_serve is not None:
        before_serve(config)
    url = f"http://127.0.0.1:{port}"
    try:
        argv = [str(BIN / "plugdesk"), "--config", str(config), "serve"]
        with process(argv + (["--workers", str(workers)] if workers else []),
                     f"{url}/healthz", log=tmp / "serve.log") as proc:
            yield {"url": url, "config": config, "data": tmp / "d", "proc": proc, "admin_password": pw.read_text()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def bare_flask(workers: int | None = None, limits: str = "local://") -> Iterator[str]:
    """A hello-world Flask app under the same gunicorn settings as `plugdesk serve` (same worker plan;
    ``limits`` is what `plugdesk init` writes, so both sides get the same processes and threads)."""
    from core.serve import plan_workers

    workers, threads, _ = plan_workers(limits, workers)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-c",
            "import sys; from benchmarks.hello_app import run; run(*map(int, sys.argv[1:4]))",
            str(port), str(workers), str(threads)]
    with process(argv, f"{url}/"):
        yield url


def wrk(url: str, seconds: float, connections: int = 16, threads: int = 2) -> float:
    """Requests per second reported by wrk (loopback; client and server share the cores)."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", url],
                         check=True, capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} error responses during the benchmark")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def alternate(measure_a: Any, measure_b: Any, rounds: int) -> tuple[float, float]:
    """Measure A and B alternately ``rounds`` times; return the two medians."""
    a, b = [], []
    for _ in range(rounds):
        a.append(measure_a())
        b.append(measure_b())
    return statistics.median(a), statistics.median(b)
