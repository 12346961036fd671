"""A small HTTP client for the multi-node tests and the load script (http.client; no redirects followed).

``Http(base).call(method, path, ...)`` returns a :class:`Reply`; network errors (a node killed mid-request,
nginx restarting) become a ``Reply`` with ``status`` 0 and the error in ``error``, so load loops can count
them instead of crashing. Cookies are kept per ``Http`` object for browser-style form flows.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit


@dataclass
class Reply:
    """One HTTP answer (``status`` 0: no answer at all)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """Encode form fields and ``files`` (name, content) as multipart/form-data; return body and type."""
    boundary = "b" + secrets.token_hex(12)
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    for filename, content in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class Http:
    """Requests to one base URL, with a cookie jar of its own."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base)
        self.base = base.rstrip("/")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, *, json_body: Any = None, form: dict[str, str] | None = None,
             body: bytes | None = None, content_type: str = "", token: str = "",
             headers: dict[str, str] | None = None) -> Reply:
        """Send one request; never raises for network errors (``status`` 0)."""
        send = dict(headers or {})
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
        if content_type:
            send["Content-Type"] = content_type
        if token:
            send["Authorization"] = f"Bearer {token}"
        if self.cookies:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=send)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, error=f"{exc.__class__.__name__}: {exc}")
        finally:
            conn.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def get(self, path: str, token: str = "") -> Reply:
        """GET ``path``."""
        return self.call("GET", path, token=token)

    def post_json(self, path: str, payload: Any, token: str = "") -> Reply:
        """POST a JSON body."""
        return self.call("POST", path, json_body=payload, token=token)

    def post_files(self, path: str, fields: dict[str, str], files: list[tuple[str, bytes]], token: str) -> Reply:
        """POST multipart form fields plus ``files``."""
        body, ctype = multipart(fields, files)
        return self.call("POST", path, body=body, content_type=ctype, token=token)


def login_token(client: Http, username: str, password: str) -> str:
    """A bearer token from ``POST /api/v1/auth/login``; raise with the answer when it fails."""
    reply = client.post_json("/api/v1/auth/login", {"username": username, "password": password})
    if reply.status != 200:
        raise AssertionError(f"login of {username} failed: {reply.status} {reply.text[:300]} {reply.error}")
    return str(reply.json()["token"])


def form_fields(html: str) -> dict[str, str]:
    """``name -> value`` of every ``<input>`` with a value in ``html`` (CSRF and captcha tokens)."""
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        name = re.search(r'\bname="([^"]*)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if name and value:
            fields[name.group(1)] = value.group(1).replace("&#34;", '"').replace("&amp;", "&")
    return fields
