"""Multipart (browser form) uploads through a real gunicorn server: the form parser reads the body through
core.files.body.SocketBody (FastBodyRequest) - same files, same limits, connections reused or closed as before."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import plugdesk_cmd
from tests.plugins.storage.support import PDF
from tests.plugins.storage.test_live_server import fsck, start_site
from tests.plugins.storage.test_raw_uploads_live import gunicorn_environ, responses
from tests.realservers import stop, wait_until

BOUNDARY = "plugdeskTESTboundary"


def form(files: list[tuple[str, bytes]], note: str = "hello") -> bytes:
    """A multipart body: a text field and ``files`` under ``files``."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n{note}\r\n'.encode()]
    for name, data in files:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def request(body: bytes, query: str = "", length: int | None = None) -> bytes:
    return (f"POST /api/v1/test-uploads/1?role=agent{query} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode() + body


@pytest.mark.slow
def test_multipart_uploads_through_gunicorn(tmp_path: Path) -> None:
    proc, port, config = start_site(tmp_path)
    try:
        big = os.urandom(5 * 1024 * 1024 + 321)
        # 1. pipelined on one connection: a small form (read ahead with the headers), a big two-file form, a small
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(form([("a.pdf", PDF)])) + request(form([("big.bin", big), ("c.pdf", PDF + b"c")]))
                         + request(form([("b.pdf", PDF + b"x")])))
            got = responses(sock, 3)
        assert [s for s, _ in got] == [201, 201, 201], got
        shas = [[f["sha256"] for f in json.loads(body)] for _, body in got]
        assert shas == [[hashlib.sha256(PDF).hexdigest()],
                        [hashlib.sha256(big).hexdigest(), hashlib.sha256(PDF + b"c").hexdigest()],
                        [hashlib.sha256(PDF + b"x").hexdigest()]]
        # 2. over the per-file limit: 413 and nothing stored
        with socket.create_connection(("127.0.0.1", port)) as sock:
            try:
                sock.sendall(request(form([("big.bin", big)]), query="&max_file_bytes=1000000"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            [(status, body)] = responses(sock, 1)
        assert status == 413, body
        # 3. the client goes away in the middle of the file
        whole = form([("cut.bin", big)])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(whole[: len(whole) // 2], length=len(whole)))
        # 4. still serving; only the completed uploads are stored
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(form([("d.pdf", PDF + b"d")])))
            [(status, body)] = responses(sock, 1)
        assert status == 201, body
        wait_until(lambda: fsck(config)["attachments"] == 5, None, "fsck", timeout=10)
        assert fsck(config)["problems"] == []
        subprocess.run(plugdesk_cmd("--config", str(config), "storage", "gc", "--grace-seconds", "0"), check=True,
                       capture_output=True)
        files = sorted(p.stat().st_size for p in (config.parent / "files").rglob("*") if p.is_file())
        # the stored blobs and nothing else: no spool of the cut upload, no copy of the adopted ones
        assert files == sorted([len(PDF), len(big), len(PDF) + 1, len(PDF) + 1, len(PDF) + 1])
    finally:
        stop(proc)


def test_the_form_parser_reads_the_socket_and_leaves_the_next_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.files.body import FastBodyRequest, SocketBody

    made: list[SocketBody] = []
    original = SocketBody.of.__func__  # type: ignore[attr-defined]

    def spy(cls: type[SocketBody], environ: dict[str, object]) -> SocketBody | None:
        found = original(cls, environ)
        made.append(found)
        return found

    monkeypatch.setattr(SocketBody, "of", classmethod(spy))
    data = os.urandom(300_000)
    body = form([("x.bin", data)], note="ünï")
    a, b = socket.socketpair()
    with a, b:
        environ = {**gunicorn_environ(b, len(body), body[:1000]), "REQUEST_METHOD": "POST",
                   "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.url_scheme": "http", "SERVER_NAME": "x", "SERVER_PORT": "80", "PATH_INFO": "/"}
        threading.Thread(target=a.sendall, args=(body[1000:] + b"NEXT",)).start()
        req = FastBodyRequest(environ)
        assert req.form["note"] == "ünï" and req.files["files"].read() == data
        assert len(made) == 1 and made[0] is not None and made[0].remaining == 0  # the parser read the socket
        assert b.recv(10) == b"NEXT"  # and nothing past the body


def test_a_body_read_before_parsing_is_parsed_from_what_was_read() -> None:
    """``get_data()`` first (cached): Werkzeug parses the cached bytes; the socket is not read again."""
    from core.files.body import FastBodyRequest

    body = form([("x.bin", b"abc")])
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "PATH_INFO": "/"}
    req = FastBodyRequest(environ)
    assert req.get_data() == body
    assert req.files["files"].read() == b"abc" and req.form["note"] == "hello"
