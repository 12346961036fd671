"""A one-second in-process cache of anonymous KB pages and feeds, in front of the whole WSGI stack.

Readers without an account (and crawlers, and feed readers) all receive the same bytes for a KB page
or feed, so recomputing them for every request only burns CPU. This WSGI middleware keeps the complete
response (status, headers including the security headers, body) that the full Flask stack produced for
an anonymous ``GET``/``HEAD`` and replays it for at most :data:`TTL` seconds. A response is only reused
for requests that cannot see anything personal:

* no ``Authorization`` header, no conditional headers (those go through Flask, which answers 304);
* no cookies at all, or only a plugdesk session that holds nothing but its CSRF secret (no user, no
  flashed messages) — the KB voter cookie means "you already rated", so it bypasses the cache;
* only ``200`` responses are kept, and never their ``Set-Cookie`` (a replayed page never hands out a
  session; the first, uncached, response still sets one as usual).

Local KB writes clear the cache at once (:meth:`core.kb.service.KbRuntime.invalidate`); changes made on
other nodes show within :data:`TTL` seconds. The key includes host, scheme and the raw forwarded
headers, so proxied https and plain http never share an entry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from flask import Flask

TTL = 1.0
MAX_ENTRIES = 512
MAX_BODY = 2 * 1024 * 1024
CACHED_PATHS = re.compile(r"^/(kb(/(\d+(/[\w-]*)?|category/\d+|search))?|rss/kb/(newest|category/\d+))/?$")
BYPASS_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE",
                  "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE")
KEY_HEADERS = ("HTTP_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
               "HTTP_X_FORWARDED_PREFIX", "SCRIPT_NAME", "wsgi.url_scheme")

StartResponse = Callable[..., Any]


class MicroCache:
    """WSGI middleware replaying anonymous KB responses for up to :data:`TTL` seconds."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Flask, store: dict[Any, Any],
                 session_cookie: str, voter_cookie: str) -> None:
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.store = store
        self.session_cookie = session_cookie
        self.voter_cookie = voter_cookie

    def _anonymous(self, cookie_header: str) -> bool:
        if not cookie_header:
            return True
        # substring checks before parsing: a cookie's name is in the header whenever the cookie is
        if self.voter_cookie + "=" in cookie_header:
            return False
        if self.session_cookie + "=" not in cookie_header:
            return True
        try:
            cookies = SimpleCookie(cookie_header)
        except CookieError:
            return False
        if self.voter_cookie in cookies:
            return False
        raw = cookies.get(self.session_cookie)
        if raw is None:
            return True
        found = self.flask_app.session_interface.verified(self.flask_app, raw.value)  # type: ignore[attr-defined]
        if found is None:  # tampered or expired: not our business here, let Flask handle it
            return False
        return {key for key, _ in found[0]} <= {"csrf_token"}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if method not in ("GET", "HEAD") or not CACHED_PATHS.match(path) \
                or any(h in environ for h in BYPASS_HEADERS) or not self._anonymous(environ.get("HTTP_COOKIE", "")):
            return self.wsgi_app(environ, start_response)
        key = (method, path, environ.get("QUERY_STRING", ""), *(environ.get(h) for h in KEY_HEADERS))
        now = time.monotonic()
        hit = self.store.get(key)
        if hit is not None and now - hit[0] < TTL:
            start_response(hit[1], list(hit[2]))
            return [hit[3]]
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = self.wsgi_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if captured.get("status", "").startswith("200") and len(body) <= MAX_BODY:
            if len(self.store) >= MAX_ENTRIES:
                self.store.clear()
            kept = tuple((k, v) for k, v in captured["headers"] if k.lower() != "set-cookie")
            self.store[key] = (time.monotonic(), captured["status"], kept, body)
        return [body]


def install(app: Flask, store: dict[Any, Any], voter_cookie: str) -> None:
    """Put the micro-cache in front of ``app``'s WSGI pipeline (outside ProxyFix, so raw headers key it)."""
    app.wsgi_app = MicroCache(app.wsgi_app, app, store,  # type: ignore[method-assign]
                              app.config["SESSION_COOKIE_NAME"], voter_cookie)
