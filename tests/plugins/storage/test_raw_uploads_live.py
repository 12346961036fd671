"""Raw-body uploads through a real gunicorn server: the socket fast path (core.files.body.SocketBody)."""

from __future__ import annotations

import hashlib
import http.client
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
from tests.realservers import stop, wait_until


def request(name: str, body: bytes, query: str = "", length: int | None = None) -> bytes:
    return (f"POST /api/v1/test-uploads/1?role=agent{query} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/octet-stream\r\nX-Filename: {name}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode() + body


def responses(sock: socket.socket, n: int) -> list[tuple[int, bytes]]:
    """Read ``n`` HTTP responses from ``sock``."""
    out = []
    reader = sock.makefile("rb")
    for _ in range(n):
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        out.append((status, reader.read(length)))
    return out


@pytest.mark.slow
def test_raw_uploads_through_gunicorn(tmp_path: Path) -> None:
    proc, port, config = start_site(tmp_path)
    try:
        big = os.urandom(9 * 1024 * 1024 + 123)
        # 1. pipelined on one connection: a small body (read ahead with the headers), a big one, a small one
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request("a.pdf", PDF) + request("big.bin", big) + request("b.pdf", PDF + b"x"))
            got = responses(sock, 3)
        assert [s for s, _ in got] == [201, 201, 201], got
        shas = [json.loads(body)[0]["sha256"] for _, body in got]
        assert shas == [hashlib.sha256(x).hexdigest() for x in (PDF, big, PDF + b"x")]
        assert json.loads(got[1][1])[0]["size"] == len(big)
        # 2. over the per-file limit: 413, nothing stored, and the server keeps serving
        with socket.create_connection(("127.0.0.1", port)) as sock:
            try:  # the server answers before the body ends and then closes the connection
                sock.sendall(request("big.bin", big, query="&max_file_bytes=1000000"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            [(status, body)] = responses(sock, 1)
        assert status == 413, body
        # 3. the client goes away after half of the declared body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request("cut.bin", big[: len(big) // 2], length=len(big)))
        # 4. still fine afterwards, and only the completed uploads are stored
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/v1/test-uploads/3?role=agent", body=PDF + b"yz",
                     headers={"Content-Type": "application/octet-stream", "X-Filename": "c.pdf"})
        r = conn.getresponse()
        assert r.status == 201, r.read()
        conn.close()
        wait_until(lambda: fsck(config)["attachments"] == 4, None, "fsck", timeout=10)
        report = fsck(config)
        assert report["blobs"] == 4 and report["problems"] == []
        subprocess.run(plugdesk_cmd("--config", str(config), "storage", "gc", "--grace-seconds", "0"), check=True,
                       capture_output=True)
        files = sorted(p.stat().st_size for p in (config.parent / "files").rglob("*") if p.is_file())
        assert files == sorted([len(PDF), len(big), len(PDF) + 1, len(PDF) + 2])  # no partial blob, no temp file
    finally:
        stop(proc)


def gunicorn_environ(sock: socket.socket, length: int, buffered: bytes) -> dict[str, object]:
    """The environ gunicorn builds for a ``Content-Length`` body, with ``buffered`` read ahead already."""
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    unreader = SocketUnreader(sock)
    unreader.unread(buffered)
    return {"wsgi.input": Body(LengthReader(unreader, length)), "gunicorn.socket": sock,
            "SERVER_SOFTWARE": "gunicorn/x"}


def test_socket_body_reads_exactly_the_body_and_leaves_the_next_request() -> None:
    from core.files.body import SocketBody

    body = os.urandom(3 * 1024 * 1024 + 7)
    a, b = socket.socketpair()
    with a, b:
        environ = gunicorn_environ(b, len(body), body[:5000])
        threading.Thread(target=a.sendall, args=(body[5000:] + b"NEXT REQUEST",)).start()
        stream = SocketBody.of(environ)
        assert stream is not None and stream.remaining == len(body)
        assert stream.read(10) == body[:10]
        buffer = bytearray(1024 * 1024)
        got = bytearray(body[:10])
        while n := stream.readinto(buffer):
            got += buffer[:n]
        assert got == body and stream.read() == b""
        assert environ["wsgi.input"].read(100) == b""  # type: ignore[attr-defined]
        assert b.recv(100) == b"NEXT REQUEST"  # nothing read past the body


def test_socket_body_keeps_a_pipelined_request_read_ahead_and_reports_a_cut_body() -> None:
    from werkzeug.exceptions import ClientDisconnected

    from core.files.body import SocketBody

    a, b = socket.socketpair()
    with a, b:
        environ = gunicorn_environ(b, 4, b"abcdGET / HTTP/1.1\r\n")
        stream = SocketBody.of(environ)
        assert stream is not None and stream.read() == b"abcd"
        unreader = environ["wsgi.input"].reader.unreader  # type: ignore[attr-defined]
        assert unreader.buf.getvalue() == b"GET / HTTP/1.1\r\n"
        environ = gunicorn_environ(b, 100, b"")
        a.sendall(b"only ten b")
        a.shutdown(socket.SHUT_WR)
        stream = SocketBody.of(environ)
        assert stream is not None
        with pytest.raises(ClientDisconnected):
            stream.read()
        assert environ["wsgi.input"].failed  # type: ignore[attr-defined]  # gunicorn closes the connection


def test_socket_body_reports_a_failing_socket_as_a_disconnect_not_a_server_error() -> None:
    """A reset or timed-out connection is the client's problem (400), as in Werkzeug's stream, never a 500."""
    from werkzeug.exceptions import ClientDisconnected

    from core.files.body import SocketBody

    a, b = socket.socketpair()
    with a, b:
        environ = gunicorn_environ(b, 100, b"")
        b.settimeout(0.05)
        stream = SocketBody.of(environ)
        assert stream is not None
        with pytest.raises(ClientDisconnected) as caught:
            stream.read(10)
        assert isinstance(caught.value.__cause__, TimeoutError)
        assert environ["wsgi.input"].failed  # type: ignore[attr-defined]


def test_other_servers_get_werkzeugs_stream() -> None:
    from core.files.body import SocketBody

    assert SocketBody.of({"wsgi.input": io.BytesIO(b"x"), "SERVER_SOFTWARE": "werkzeug"}) is None
