"""Friendly error pages for browsers and problem+json for the API; never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from core.schema import MAX_ID as _MAX_ID

log = logging.getLogger("plugdesk.web")

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back and check what you entered."),
    401: ("Please log in", "You need to log in to see this page."),
    403: ("Not allowed", "Your account is not allowed to do this. Ask an administrator if you need access."),
    404: ("Page not found", "There is nothing at this address. Check the link or start from the home page."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "What you sent is larger than this help desk accepts."),
    429: ("Too many requests", "Please wait a moment before trying again."),
    500: ("Something went wrong", "An error on our side stopped this page. It has been logged; please try "
          "again in a moment."),
    503: ("Temporarily unavailable", "A service this page needs is not answering. Please try again shortly."),
}
CSRF_MESSAGE = "This form has expired or was opened in another session. Reload the page and submit it again."


def wants_json() -> bool:
    """API routes answer problem+json; everything else gets an HTML page."""
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    """An RFC 9457 problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def render_error(status: int, detail: str | None = None) -> Response | tuple[str, int]:
    """The error answer for ``status`` in the form the client expects."""
    title, default = MESSAGES.get(status, (f"Error {status}", "The request could not be completed."))
    if wants_json():
        return problem(status, title, detail or default)
    return render_template("errors/error.html", status=status, title=title, detail=detail or default), status


DATABASE_MESSAGE = "The database is not answering right now. Please try again in a moment."


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (connection refused or lost), not a bug."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    return isinstance(exc, sa_exc.TimeoutError)  # no pooled connection became free in time


MAX_ID = _MAX_ID  # ids are 32-bit integer columns (PostgreSQL ``integer``)


def install(app: Flask) -> None:
    """Register the error handlers."""

    @app.url_value_preprocessor
    def ids_in_range(_endpoint: str | None, values: dict[str, object] | None) -> None:
        # /tickets/99999999999 is simply not there; without this check the database driver fails (500)
        if values and any(isinstance(v, int) and v > MAX_ID for v in values.values()):
            from werkzeug.exceptions import NotFound

            raise NotFound()

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        log.info("CSRF check failed on %s: %s", request.path, exc.description)
        return render_error(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        detail = exc.description if status in (400, 413, 429) and isinstance(exc.description, str) else None
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"The request is larger than the limit of {limit // (1024 * 1024)} MiB." if limit else None
        response = render_error(status, detail)
        if isinstance(response, tuple):
            html, code = response
            response = app.make_response((html, code))
        headers = dict(exc.get_headers())
        for header in ("Allow", "Retry-After", "WWW-Authenticate", "Location"):
            if header in headers:
                response.headers[header] = headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        if isinstance(exc, HTTPException):
            return http_error(exc)
        if database_unavailable(exc):  # a restart or failover: say so, and when to come back
            log.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
            try:
                response = app.make_response(render_error(503, DATABASE_MESSAGE))
            except Exception:  # the page template itself needs the database (current user): plain text
                response = Response(DATABASE_MESSAGE + "\n", status=503, mimetype="text/plain")
            response.headers["Retry-After"] = "5"
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)
