"""Response headers: CSP/framing (``security.embedding.*``), HTTPS enforcement, HSTS, nosniff."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, redirect, request, session
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from core.app_state import state

HSTS = "max-age=31536000"
BASE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: data:; style-src 'self'; "
            "script-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'")


def frame_ancestors(allowed: bool, origins: list[str]) -> str:
    """The ``frame-ancestors`` source list for the embedding settings."""
    if not allowed:
        return "'self'"
    if not origins:
        return "*"
    return " ".join(["'self'", *origins])


def fixed_headers(settings: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(full CSP, its frame-ancestors suffix, the other fixed headers) for these runtime settings: the header
    values depend on nothing else (computed once per snapshot, :meth:`RuntimeSettings.derived`)."""
    allowed = settings["security.embedding.allowed"]
    suffix = f"; frame-ancestors {frame_ancestors(allowed, settings['security.embedding.origins'])}"
    fixed = ([] if allowed else [("X-Frame-Options", "SAMEORIGIN")]) + [
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
    return BASE_CSP + suffix, suffix, tuple(fixed)


def install(app: Flask) -> None:
    """Register the before/after request handlers."""

    @app.before_request
    def force_https() -> BaseResponse | None:
        if request.scheme == "https" or request.path == "/healthz":
            return None
        try:
            if not state().runtime.get("security.force_https"):
                return None
        except SQLAlchemyError:
            return None
        base = urlsplit(state().settings.get("server", "base_url"))
        # the configured host, never the request's Host header (an http base_url names the host all the same;
        # a port in it is the http one, so it is dropped)
        host = base.netloc if base.scheme == "https" else (base.hostname or "")
        if not host:
            return None
        if ":" in host and not host.startswith("[") and base.scheme != "https":
            host = f"[{host}]"  # an IPv6 literal
        path = request.full_path if request.query_string else request.path
        return redirect(f"https://{host}{path}", code=301 if request.method in ("GET", "HEAD") else 308)

    @app.after_request
    def security_headers(response: Response) -> Response:
        try:
            settings = state().runtime.all()
            full_csp, suffix, fixed = state().runtime.derived("security.headers", fixed_headers)
        except SQLAlchemyError:  # database down: fall back to the (secure) defaults
            settings = state().runtime.defaults()
            full_csp, suffix, fixed = fixed_headers(settings)
        headers = response.headers
        present = {key.lower() for key, _value in headers}  # add() where nothing is replaced: one pass, not one each
        if "content-security-policy" in present:
            headers["Content-Security-Policy"] = f"{headers['Content-Security-Policy'] or BASE_CSP}{suffix}"
        else:
            headers.add("Content-Security-Policy", full_csp)
        for key, value in fixed:
            if key.lower() in present:
                headers[key] = value
            else:
                headers.add(key, value)
        if settings["security.force_https"] and request.scheme == "https":
            headers["Strict-Transport-Security"] = HSTS
        if session.get("uid") is not None or request.path.startswith("/api/"):
            # API answers carry tokens and personal data: no cache may keep them (downloads set their own)
            headers.setdefault("Cache-Control", "no-store")
        return response
