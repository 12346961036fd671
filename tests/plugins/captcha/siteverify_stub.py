"""A local stand-in for Google's siteverify endpoint (stdlib http.server in a thread).

It speaks Google's documented JSON (``success``, ``challenge_ts``, ``hostname``, ``score``, ``action``,
``error-codes``) and enforces the same rules Google does: the right secret, known response tokens, each
token accepted once. ``mode`` forces failures: ``"hang"``, ``"500"``, ``"503"``, ``"nonjson"``;
``forced_codes`` makes it answer ``success: false`` with those error codes.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class SiteverifyStub:
    """Start with :meth:`start`; ``url`` is the siteverify URL; ``requests`` records what was posted."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "normal"
        self.forced_codes: list[str] = []  # answer success:false with exactly these error codes
        self.tokens: dict[str, dict[str, Any]] = {}
        self.used: set[str] = set()
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/recaptcha/api/siteverify"

    def issue(self, *, hostname: str = "127.0.0.1", action: str | None = None, score: float | None = None,
              challenge_ts: str | None = None) -> str:
        """What Google's widget would hand the browser after a solve: a response token."""
        token = "03A" + secrets.token_urlsafe(300)
        ts = challenge_ts or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer: dict[str, Any] = {"success": True, "challenge_ts": ts, "hostname": hostname}
        if action is not None:
            answer["action"] = action
        if score is not None:
            answer["score"] = score
        self.tokens[token] = answer
        return token

    def answer(self, form: dict[str, str]) -> tuple[int, bytes, str]:
        """Status, body and content type for one POST."""
        if self.mode == "500":
            return 500, b"<html>Internal Server Error</html>", "text/html"
        if self.mode == "503":
            return 503, b'{"error": "unavailable"}', "application/json"
        if self.mode == "nonjson":
            return 200, b"<html>not json</html>", "text/html"
        if self.forced_codes:
            return 200, json.dumps({"success": False, "error-codes": self.forced_codes}).encode(), "application/json"
        secret, response = form.get("secret"), form.get("response")
        codes = []
        if not secret:
            codes.append("missing-input-secret")
        elif secret != self.secret:
            codes.append("invalid-input-secret")
        if not response:
            codes.append("missing-input-response")
        elif response not in self.tokens:
            codes.append("invalid-input-response")
        if not codes:
            with self._lock:
                if response in self.used:
                    codes.append("timeout-or-duplicate")
                self.used.add(response)
        if codes:
            return 200, json.dumps({"success": False, "error-codes": codes}).encode(), "application/json"
        return 200, json.dumps(self.tokens[response]).encode(), "application/json"

    def start(self) -> SiteverifyStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                stub.requests.append({**form, "_content_type": self.headers.get("Content-Type", "")})
                if stub.mode == "hang":
                    stub.release.wait(30)
                    return
                status, body, ctype = stub.answer(form)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
