"""Structured logs: one JSON object per line (plain text on a terminal), each with the request id.

``[logging] format`` picks ``json``, ``text`` or ``auto`` (text when stderr is a TTY). Every record
logged while a request runs carries its ``request_id``; the access record (logger ``plugdesk.access``)
adds ``user_id``, ``method``, ``route`` (the URL rule such as ``/api/v1/tickets/<int:ticket_id>``, never
the raw path, which may hold a reset token), ``status`` and ``duration_ms``. Query strings, headers and
bodies are never logged; as a safety net, ``Bearer ...`` values and ``password=...`` pairs that reach a
message anyway are masked.
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any, TextIO

from gunicorn.glogging import Logger as _GunicornLogger

#: The id of the request being served in this thread/context ("" outside requests).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("plugdesk_request_id", default="")

#: Attributes of a record copied into the JSON object when present (``log.info(..., extra={...})``).
EXTRA_KEYS = ("user_id", "method", "route", "status", "duration_ms", "remote_addr", "event", "plugin")
_MASK = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|((?:password|passwd|token|secret)[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&]+")
_settings: dict[str, Any] = {"format": "json"}
access_log = logging.getLogger("plugdesk.access")
_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # C-accelerated JSON string
_pid = os.getpid
_parts: dict[tuple[str, str, str], tuple[str, str]] = {}


def mask(text: str) -> str:
    """Mask bearer tokens and ``password=...``-style values in a log message (a safety net)."""
    if "earer" not in text and "assw" not in text and "oken" not in text and "ecret" not in text:
        return text
    return _MASK.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


_second: list[Any] = [-1, ""]


def _timestamp(created: float) -> str:
    whole = int(created)
    if whole != _second[0]:  # one strftime per second, not per record
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int(created % 1 * 1000):03d}Z"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` from the running request (empty outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id", ...extras, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _timestamp(record.created), "level": record.levelname, "logger": record.name,
                               "msg": mask(record.getMessage())}
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key in EXTRA_KEYS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        out["pid"] = record.process
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-01-01T10:00:00.000Z INFO plugdesk.access [rid] message`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id_var.get()
        line = f"{_timestamp(record.created)} {record.levelname:<7} {record.name} " \
               f"{'[' + rid + '] ' if rid else ''}{mask(record.getMessage())}"
        if record.exc_info:
            line += "\n" + mask(self.formatException(record.exc_info))
        return line


def resolve_format(fmt: str, stream: TextIO | None = None) -> str:
    """``auto`` -> ``text`` on a TTY, ``json`` otherwise."""
    if fmt != "auto":
        return fmt
    stream = stream or sys.stderr
    return "text" if getattr(stream, "isatty", lambda: False)() else "json"


def make_handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with the chosen formatter and the request-id filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(TextFormatter() if resolve_format(fmt, stream) == "text" else JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.set_name("plugdesk")
    return handler


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> logging.Handler:
    """Route every log record of this process (plugdesk, gunicorn, libraries) through one handler.

    Called by ``plugdesk serve`` and ``plugdesk worker`` (not by :func:`core.app.create_app`, so tests and
    embedding applications keep their own logging). Idempotent.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "plugdesk"]:
        root.removeHandler(old)
    handler = make_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("plugdesk").setLevel(level)
    _settings.update(format=resolve_format(fmt, stream), level=level, handler=handler)
    return handler


class _AccessBuffer:
    """Access lines of this process, written by a background thread every :data:`FLUSH_SECONDS` (and at exit).

    One ``write`` per request made every thread of a gunicorn worker give up and wait for the GIL (a measured
    +40 us per request at 8 threads); a batch per fifth of a second costs nothing per request. At most that
    fraction of a second of access lines can be lost if the process is killed hard.
    """

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque()
        self.pid = 0
        self.handler: logging.Handler | None = None
        self._lock = threading.Lock()

    def add(self, line: str, handler: logging.Handler) -> None:
        if self.pid != _pid() or self.handler is not handler:
            self._start(handler)
        self.lines.append(line)

    def _start(self, handler: logging.Handler) -> None:
        with self._lock:
            if self.pid == _pid() and self.handler is handler:
                return
            if self.pid != _pid():  # first use in this process (threads do not survive a fork)
                self.lines = collections.deque()
                threading.Thread(target=self._loop, name="plugdesk-access-log", daemon=True).start()
                atexit.register(self.flush)
            self.pid, self.handler = _pid(), handler

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Write every buffered line now."""
        out = []
        try:
            while True:
                out.append(self.lines.popleft())
        except IndexError:
            pass
        handler = self.handler
        if not out or handler is None:
            return
        handler.acquire()
        try:
            handler.stream.write("".join(out))  # type: ignore[attr-defined]
            handler.stream.flush()  # type: ignore[attr-defined]
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": "access records"}))
        finally:
            handler.release()


FLUSH_SECONDS = 0.2
_buffer = _AccessBuffer()


def flush_access() -> None:
    """Write buffered access lines now (tests, shutdown)."""
    _buffer.flush()


def access(method: str, route: str, status: str, duration_ms: float, request_id: str, user_id: int | None,
           remote_addr: str | None) -> None:
    """Write one access record (logger ``plugdesk.access``).

    When ``serve`` configured JSON logs and nothing else listens (the usual case), the line is written to the
    handler's stream directly - the same JSON as :class:`JsonFormatter` makes, at a fraction of the cost of a
    ``LogRecord``. Otherwise (tests, embedding applications, text format) it goes through :mod:`logging`.
    """
    handler = _settings.get("handler")
    if handler is not None and _settings["format"] == "json" and logging.root.handlers == [handler] \
            and not access_log.handlers and access_log.propagate and not access_log.disabled \
            and access_log.isEnabledFor(logging.INFO):
        parts = _parts.get((method, route, status))
        if parts is None:  # the quoted pieces of one (method, route, status), computed once
            code = int(status) if status.isdigit() else _quote(status)
            parts = (_quote(f"{method} {route} {status}")[:-1],
                     f'"method": {_quote(method)}, "route": {_quote(route)}, "status": {code}, ')
            if len(_parts) > 4096:
                _parts.clear()
            _parts[(method, route, status)] = parts
        line = (f'{{"ts": "{_timestamp(time.time())}", "level": "INFO", "logger": "plugdesk.access", '
                f'"msg": {parts[0]} {duration_ms:.1f}ms", "request_id": {_quote(request_id)}, '
                + (f'"user_id": {int(user_id)}, ' if user_id is not None else "")
                + f'{parts[1]}"duration_ms": {round(duration_ms, 2)}, '
                + (f'"remote_addr": {_quote(remote_addr)}, ' if remote_addr else "")
                + f'"event": "request", "pid": {_pid()}}}\n')
        _buffer.add(line, handler)
        return
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s %s %s %.1fms", method, route, status, duration_ms, extra={
            "request_id": request_id, "method": method, "route": route,
            "status": int(status) if status.isdigit() else status, "duration_ms": round(duration_ms, 2),
            "user_id": user_id, "remote_addr": remote_addr, "event": "request"})


class GunicornLogger(_GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with plugdesk's format; gunicorn's own access log stays off (plugdesk writes one
    record per request itself, with the route rule instead of the raw path)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        handler = _settings.get("handler")
        if handler is None:
            return
        for log in (self.error_log, self.access_log):
            for old in list(log.handlers):
                log.removeHandler(old)
        self.error_log.addHandler(handler)
        self.error_log.propagate = False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Not used: see ``plugdesk.access``."""
