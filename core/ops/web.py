"""The request side of operations: request ids, access log, request metrics, the write guard, ``/metrics``.

:class:`OpsMiddleware` is the outermost WSGI layer (outside the KB micro-cache and ProxyFix), so every
response - cached, redirected, refused or failed - carries ``X-Request-ID`` and is counted and logged once.
An incoming ``X-Request-ID`` is kept when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``), else replaced.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

from core.auth.sessions import USER_ID_ENVIRON
from core.ops.logs import access, request_id_var
from core.ops.metrics import DatabaseCollector, Metrics, PoolWatcher, monitor_hooks, render
from core.types import Role

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXTENSION = "plugdesk.ops"
_ROUTE_CACHE_MAX = 2048


class OpsMiddleware:
    """Request id, timing, request metrics and the access record around the whole WSGI app."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Flask, metrics: Metrics | None,
                 access: bool, pool: PoolWatcher | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.pool = pool
        self.flask_app = flask_app
        self.metrics = metrics
        self.access = access
        self._routes: dict[tuple[str, str], str] = {}
        self._labelled: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    def _route(self, environ: dict[str, Any]) -> str:
        req = environ.get("werkzeug.request")
        rule = getattr(req, "url_rule", None) if req is not None else None
        if rule is not None:
            return rule.rule
        key = (environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        route = self._routes.get(key)
        if route is None:  # answered before routing (micro-cache, redirects, errors): match it here
            try:
                found, _args = self.flask_app.url_map.bind_to_environ(environ).match(return_rule=True)
                route = found.rule
            except HTTPException:
                route = "<unmatched>"
            except Exception:
                route = "<unknown>"
            if len(self._routes) >= _ROUTE_CACHE_MAX:
                self._routes.clear()
            self._routes[key] = route
        return route

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if incoming and REQUEST_ID.match(incoming) else os.urandom(16).hex()
        environ["plugdesk.request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        seen: list[str] = []

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", rid))
            seen.append(status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            result = self.wsgi_app(environ, respond)
        except BaseException:
            self._record(environ, "500", started)
            raise
        finally:
            request_id_var.reset(token)
        self._record(environ, seen[-1].split(" ", 1)[0] if seen else "500", started, rid)
        return result

    def _children(self, metrics: Metrics, method: str, route: str, status: str) -> tuple[Any, Any]:
        """The labelled counter and histogram of one (method, route, status), cached (``labels()`` is slow)."""
        key = (method, route, status)
        found = self._labelled.get(key)
        if found is None or found[2] is not metrics.requests:  # new key, or metrics rebuilt by `serve`
            found = (metrics.requests.labels(method, route, status), metrics.latency.labels(method, route),
                     metrics.requests)
            if len(self._labelled) >= _ROUTE_CACHE_MAX:
                self._labelled.clear()
            self._labelled[key] = found
        return found[0], found[1]

    def _record(self, environ: dict[str, Any], status: str, started: float, rid: str = "") -> None:
        elapsed = time.perf_counter() - started
        try:
            method = environ.get("REQUEST_METHOD", "")
            route = self._route(environ)
            if self.metrics is not None:
                counter, histogram = self._children(self.metrics, method, route, status)
                counter.inc()
                histogram.observe(elapsed)
                if self.pool is not None:
                    self.pool.flush(started)
            if self.access:
                access(method, route, status, elapsed * 1000, rid or environ.get("plugdesk.request_id", ""),
                       environ.get(USER_ID_ENVIRON), environ.get("REMOTE_ADDR"))
        except Exception:  # observing a request must never break it
            logging.getLogger("plugdesk.metrics").exception("recording a request failed")


def _write_guard(app: Flask) -> Callable[[], ResponseReturnValue | None]:
    from core.migrate import plugin_locations
    from core.ops.schema import WriteGuard

    st = app.extensions["plugdesk"]
    guard = WriteGuard(st.db.engine, plugin_locations(st.host))
    app.extensions[EXTENSION]["guard"] = st.extras["ops.guard"] = guard

    def refuse_writes_on_newer_schema() -> ResponseReturnValue | None:
        if request.method not in WRITE_METHODS:
            return None
        message = guard.refusal()
        if message is None:
            return None
        from core.web.errors import problem

        detail = f"This node cannot save changes right now: {message}. Reading keeps working."
        if request.path.startswith("/api/"):
            response = problem(503, "Node out of date", detail)
        else:
            response = Response(f"<!doctype html><title>Temporarily read-only</title><h1>Temporarily read-only</h1>"
                                f"<p>{detail}</p>", status=503, mimetype="text/html")
        response.headers["Retry-After"] = "30"
        return response

    return refuse_writes_on_newer_schema


def _networks(values: list[str]) -> list[Any]:
    nets = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            logging.getLogger("plugdesk.metrics").error("[metrics] allow_from: %r is not an address or CIDR", value)
    return nets


def metrics_allowed(app: Flask) -> bool:
    """The ``[metrics]`` token, an admin's API token, or a client address in ``allow_from``."""
    st = app.extensions["plugdesk"]
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    supplied = supplied.strip()
    if scheme.lower() == "bearer" and supplied:
        configured = st.settings.get("metrics", "token")
        if configured and hmac.compare_digest(supplied.encode(), configured.encode()):
            return True
        from core.auth.sessions import has_role, token_user

        user = token_user(st.db, supplied)
        if user is not None and has_role(user, Role.ADMIN):
            return True
    nets = app.extensions[EXTENSION]["allow_from"]
    if nets and request.remote_addr:
        try:
            addr = ipaddress.ip_address(request.remote_addr)
        except ValueError:
            return False
        return any(addr in net for net in nets)
    return False


def install(app: Flask) -> None:
    """Wire everything into ``app``; called last by :func:`core.app.create_app`."""
    st = app.extensions["plugdesk"]
    settings = st.settings
    enabled = settings.get("metrics", "enabled")
    metrics = Metrics() if enabled else None
    app.extensions[EXTENSION] = {"metrics": metrics, "collector": DatabaseCollector(st),
                                 "allow_from": _networks(settings.get("metrics", "allow_from"))}
    st.extras["metrics"] = metrics
    app.before_request_funcs.setdefault(None, []).insert(0, _write_guard(app))
    if metrics is not None:
        pool = app.extensions[EXTENSION]["pool"] = PoolWatcher(metrics, st.db.engine)
        monitor_hooks(metrics, st.host.pm)

        def metrics_view() -> ResponseReturnValue:
            if not metrics_allowed(app):
                return Response("Send Authorization: Bearer <[metrics] token or an admin's API token>.\n",
                                status=401, mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
            pool.flush()
            body = render(app.extensions[EXTENSION]["metrics"], [app.extensions[EXTENSION]["collector"]])
            return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST,
                            headers={"Cache-Control": "no-store"})

        app.add_url_rule("/metrics", "ops.metrics", metrics_view, methods=["GET"])
    access = settings.get("logging", "access")
    app.wsgi_app = OpsMiddleware(app.wsgi_app, app, metrics, access,  # type: ignore[method-assign]
                                 app.extensions[EXTENSION].get("pool"))


def rebuild_metrics(app: Flask) -> Metrics | None:
    """Recreate the app's metrics after ``PROMETHEUS_MULTIPROC_DIR`` was set (``plugdesk serve``)."""
    metrics = app.extensions.get(EXTENSION, {}).get("metrics")
    if metrics is not None:
        metrics.build()
    return metrics


def count_login(st: Any, result: str) -> None:
    """Count one login attempt (``ok``, ``failed``, ``locked``, ``unavailable``); a no-op without metrics."""
    metrics = st.extras.get("metrics")
    if metrics is not None:
        metrics.logins.labels(result).inc()


def count_lockout(st: Any) -> None:
    """Count one new lockout."""
    metrics = st.extras.get("metrics")
    if metrics is not None:
        metrics.lockouts.inc()
