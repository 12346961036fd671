"""Figures for file uploads: the blob service vs the raw write path, HTTP throughput, server RSS.

* ``upload_blob_service`` - ``FileService.ingest`` + ``attach`` of a 256 MB file (quick: 64 MB) vs the raw
  read -> sha256 -> write -> fsync -> rename path, measured alternately in the same run (medians).
  Every round uses new content (no dedup hit). Goal: >= 80 % of the raw throughput.
* ``upload_http`` - the same file POSTed as multipart to a real gunicorn server built like ``plugdesk serve``
  (core.serve, one worker) with an upload view calling ``core.files.uploads.save_uploads``, vs the raw path.
  Reported, no goal. ``upload_http_raw``: the same file as a raw request body (``application/octet-stream`` +
  ``X-Filename``), streamed without the form parser. Goal: >= 0.50 of the raw path.
* ``upload_peak_rss`` - peak RSS (server process tree) above idle during a 1 GB upload (quick: 256 MB).
  Goal: < 100 MB.

``python benchmarks/bench_upload.py --serve CONFIG PORT`` is the server the HTTP figures use.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from core import hookimpl

MB = 1024 * 1024
CHUNK = MB
BIN = Path(sys.executable).parent


def _figure(name: str, value: float, baseline: float, goal: str, unit: str, note: str = "",
            ratio: float | None = None) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "baseline": round(baseline, 3),
            "ratio": round(ratio if ratio is not None else (value / baseline if baseline else 0.0), 3),
            "goal": goal, "unit": unit, "note": note}


def _make_source(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            out.write(os.urandom(CHUNK))


def _new_content(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(16))


def raw_write(source: Path, directory: Path) -> float:
    """Baseline: read -> sha256 -> write temp -> fsync -> rename; seconds."""
    start = time.perf_counter()
    sha = hashlib.sha256()
    tmp = directory / f".tmp-{os.getpid()}"
    with open(source, "rb") as src, open(tmp, "wb", buffering=0) as out:
        while chunk := src.read(CHUNK):
            sha.update(chunk)
            out.write(chunk)
        os.fsync(out.fileno())
    final = directory / sha.hexdigest()
    os.rename(tmp, final)
    elapsed = time.perf_counter() - start
    final.unlink()
    return elapsed


def service_write(app: Any, source: Path) -> float:
    """The blob service: ingest (hash, rules, lease, backend put) + attach in a transaction; seconds."""
    from core.app_state import state
    from core.files.service import file_service

    service = file_service(state(app))
    start = time.perf_counter()
    with app.app_context(), open(source, "rb") as src:
        with service.ingest(src, "bench.bin") as staged, service.db.session() as s:
            service.attach(s, "bench", 1, staged)
    elapsed = time.perf_counter() - start
    with service.db.session() as s:
        service.detach_owner(s, "bench", 1)
    service.gc(0)
    return elapsed


# ----------------------------------------------------------------------------- HTTP


class BenchPlugin:
    """Adds ``POST /bench-upload`` (CSRF-exempt) that stores ``files`` through ``save_uploads``."""

    @hookimpl
    def register_blueprints(self) -> list[Any]:
        from flask import Blueprint, jsonify, request

        from core.files.uploads import attachment_json, save_uploads

        bp = Blueprint("bench_upload", __name__)

        @bp.post("/bench-upload")
        def upload() -> Any:
            return jsonify([attachment_json(a) for a in save_uploads(request, "bench", 1, "agent")]), 201

        bp.record_once(lambda setup: setup.app.extensions["csrf"].exempt(bp))
        return [bp]


def serve_main(config: str, port: int) -> None:
    """Run the app as ``plugdesk serve`` does (core.serve, gunicorn gthread), plus the bench upload view."""
    from core.app import create_app
    from core.serve import run

    app = create_app(config, plugins={"bench_upload": BenchPlugin()})
    run(app, "127.0.0.1", port, 1, 4)


def _tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def http_upload(port: int, source: Path, raw: bool = False) -> float:
    """POST ``source`` as one multipart file (``raw``: as the whole body, ``application/octet-stream`` with
    ``X-Filename``); seconds until the 201."""
    boundary = "plugdeskbenchboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="bench.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    if raw:
        head = tail = b""
    size = source.stat().st_size
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/bench-upload")
    if raw:
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("X-Filename", "bench.bin")
    else:
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(source, "rb") as src:
        while chunk := src.read(CHUNK):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"upload failed: {response.status} {body[:300]!r}")
    return time.perf_counter() - start


class Server:
    """``plugdesk init`` + this module's ``--serve`` under gunicorn; stopped by PID."""

    @staticmethod
    def start(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        tmp.mkdir(parents=True, exist_ok=True)
        pw = tmp / "pw"
        pw.write_text("benchmark admin password 1")
        subprocess.run([str(BIN / "plugdesk"), "init", "--data-dir", str(tmp / "d"), "--admin-password-file",
                        str(pw), "--port", str(port)], check=True, capture_output=True)
        config = tmp / "d" / "plugdesk.toml"
        config.write_text(config.read_text().replace("[server]\n", "[server]\nmax_request_mb = 4096\n", 1))
        subprocess.run([str(BIN / "plugdesk"), "--config", str(config), "settings", "set",
                        "security.uploads.max_file_mb", "4096"], check=True, capture_output=True)
        log = open(tmp / "serve.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(config), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
                    return proc, port, tmp / "d"
            except OSError:
                time.sleep(0.1)
        proc.kill()
        raise RuntimeError(f"server did not start: {(tmp / 'serve.log').read_text()[-2000:]}")


def _gc(data_dir: Path) -> None:
    subprocess.run([str(BIN / "plugdesk"), "--config", str(data_dir / "plugdesk.toml"), "storage", "gc",
                    "--grace-seconds", "0"], check=False, capture_output=True)


def _clear(data_dir: Path) -> None:
    import sqlite3

    with sqlite3.connect(data_dir / "plugdesk.db") as db:
        db.execute("DELETE FROM attachments")
        db.execute("UPDATE blobs SET refcount = 0, zero_since = '2000-01-01 00:00:00'")
    _gc(data_dir)


def figures(quick: bool) -> list[dict[str, Any]]:
    """Run the upload benchmarks; see the module docstring."""
    from core.testing import make_test_app

    size = (64 if quick else 256) * MB
    big = (256 if quick else 1024) * MB
    rounds = 3 if quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="plugdesk-bench-upload-", dir=os.environ.get("BENCH_TMP")))
    out: list[dict[str, Any]] = []
    try:
        source = tmp / "source.bin"
        _make_source(source, size)
        app = make_test_app(tmp / "app", ["auth_local", "storage_fs"])
        raw_dir = app.extensions["plugdesk"].storage.root / "raw"
        raw_dir.mkdir()
        service_write(app, source)  # warm-up (imports, page cache, first SQLite transactions); not counted
        raw_write(source, raw_dir)
        svc, raw = [], []
        for _ in range(rounds):
            _new_content(source)
            svc.append(service_write(app, source))
            _new_content(source)
            raw.append(raw_write(source, raw_dir))
        s_med, r_med = statistics.median(svc), statistics.median(raw)
        out.append(_figure("upload_blob_service", size / MB / s_med, size / MB / r_med, ">= 0.8", "MB/s",
                           f"{size // MB} MB, {rounds} alternating rounds, medians; storage_fs, SQLite"))

        proc, port, data_dir = Server.start(tmp / "site")
        try:
            http_times, raw_bodies, raw2 = [], [], []
            for _ in range(rounds):
                _new_content(source)
                http_times.append(http_upload(port, source))
                _clear(data_dir)
                _new_content(source)
                raw_bodies.append(http_upload(port, source, raw=True))
                _clear(data_dir)
                _new_content(source)
                raw2.append(raw_write(source, raw_dir))
            h_med, b_med, r2_med = (statistics.median(http_times), statistics.median(raw_bodies),
                                    statistics.median(raw2))
            out.append(_figure("upload_http", size / MB / h_med, size / MB / r2_med, "report", "MB/s",
                               f"{size // MB} MB multipart POST to gunicorn (1 worker) -> save_uploads, vs raw"))
            out.append(_figure("upload_http_raw", size / MB / b_med, size / MB / r2_med, ">= 0.50", "MB/s",
                               f"{size // MB} MB as the request body (application/octet-stream + X-Filename, "
                               "core.files.uploads.raw_upload: no form parser, hashed while streaming, every "
                               "upload rule) to the same view, vs the raw read -> sha256 -> write -> fsync path; "
                               "measured alternately with the multipart upload and the raw path"))
            big_source = tmp / "big.bin"
            _make_source(big_source, big)
            time.sleep(0.5)
            idle = _tree_rss(proc.pid)
            peak = [idle]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], _tree_rss(proc.pid))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                http_upload(port, big_source)
            finally:
                done.set()
                sampler.join()
            out.append(_figure("upload_peak_rss", (peak[0] - idle) / MB, 100, "< 100", "MB",
                               f"peak RSS of the server (master + worker) above idle ({idle // MB} MB) during a "
                               f"{big // MB} MB upload", ratio=100 / max(1e-6, (peak[0] - idle) / MB)))
        finally:
            proc.terminate()
            proc.wait(20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve_main(sys.argv[2], int(sys.argv[3]))
    else:
        print(json.dumps(figures("--quick" in sys.argv), indent=2))
