"""Uploads through a real gunicorn server (core.serve, as `plugdesk serve` runs it) with the test upload view."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import plugdesk_cmd
from tests.realservers import free_port, spawn, stop, wait_until

BOUNDARY = "liveboundary"


def start_site(tmp_path: Path) -> tuple[Any, int, Path]:
    port = free_port()
    pw = tmp_path / "pw"
    pw.write_text("live admin password 1")
    subprocess.run(plugdesk_cmd("init", "--data-dir", str(tmp_path / "d"), "--admin-password-file", str(pw),
                                "--port", str(port)), check=True, capture_output=True)
    config = tmp_path / "d" / "plugdesk.toml"
    proc = spawn([sys.executable, "-m", "tests.plugins.storage.support", config, port], tmp_path / "serve.log",
                 cwd=Path(__file__).parents[3])
    wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200, proc,
               "upload server", log=tmp_path / "serve.log")
    return proc, port, config


def head(name: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()


def fsck(config: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(plugdesk_cmd("--config", str(config), "storage", "fsck", "--json", *args),
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_interrupted_upload_leaves_no_row_and_no_blob(tmp_path: Path) -> None:
    proc, port, config = start_site(tmp_path)
    try:
        body = b"q" * (8 * 1024 * 1024)
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        # 1. the client goes away after half of the declared body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            length = len(head("cut.bin")) + len(body) + len(tail)
            sock.sendall(f"POST /api/v1/test-uploads/1?role=agent HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         f"multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n".encode())
            sock.sendall(head("cut.bin") + body[: len(body) // 2])
        # 2. a complete upload still works afterwards, and is the only thing stored
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        payload = head("whole.bin") + b"w" * 1000 + tail
        conn.request("POST", "/api/v1/test-uploads/1?role=agent", body=payload,
                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        response = conn.getresponse()
        assert response.status == 201, response.read()
        wait_until(lambda: fsck(config)["attachments"] == 1, None, "fsck", timeout=10)
        report = fsck(config)
        assert report["blobs"] == 1 and report["problems"] == []
        subprocess.run(plugdesk_cmd("--config", str(config), "storage", "gc", "--grace-seconds", "0"), check=True,
                       capture_output=True)
        assert fsck(config)["blobs"] == 1
        files = [p for p in (config.parent / "files").rglob("*") if p.is_file()]
        assert len(files) == 1 and files[0].stat().st_size == 1000  # no partial blob, no temp file
    finally:
        stop(proc)
