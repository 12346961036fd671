"""Per-client-address limits with flask-limiter, stored in ``[limits] storage`` (memory, local or Redis).

The client address is ``request.remote_addr`` after ProxyFix applied ``server.trusted_proxies`` hops, so a
client rotating its own X-Forwarded-For header cannot escape the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, cast

from flask import Flask, Response, request
from flask.typing import RouteCallable
from flask_limiter import Limiter
from limits import parse_many

from core.app_state import AppState
from core.web.fastpaths import gate_hooks

#: Endpoints whose failed POSTs count against ``security.brute_force.ip_limit``.
LOGIN_ENDPOINTS = ("portal.login", "api.login", "twofactor.verify", "twofactor.passkey_login")
#: Endpoints that send email: every POST counts against ``RESET_LIMIT``.
RESET_ENDPOINTS = ("reset.request_link", "api.password_reset")
RESET_LIMIT = "10 per hour"
#: Endpoints that create accounts (and send a confirmation email): every POST counts against
#: ``security.registration.ip_limit``.
REGISTER_ENDPOINTS = ("portal.register_view", "api.register_route")
#: Every limit here applies to POSTs only, so other requests skip flask-limiter's per-request work.
LIMITED_METHODS = frozenset({"POST"})


def client_ip() -> str:
    """The proxy-corrected client address."""
    return request.remote_addr or "unknown"


def validate_limit(value: str) -> str:
    """Check a flask-limiter limit string such as ``100 per 15 minutes``."""
    try:
        if not parse_many(value):
            raise ValueError
    except ValueError:
        raise ValueError("expected a limit such as '100 per 15 minutes' or '20/minute'") from None
    return value.strip()


def limiter_storage_uri(state: AppState) -> str:
    """flask-limiter's storage for ``[limits] storage``: ``local://`` becomes the machine-wide SQLite file
    (:class:`core.limits_local.LocalLimiterStorage`), the others are passed on as they are."""
    url = state.settings.get("limits", "storage")
    if not url.startswith("local://"):
        return url
    from core.limits_local import LocalLimiterStorage, local_path

    return f"{LocalLimiterStorage.STORAGE_SCHEME[0]}://{local_path(url, state.settings.data_dir)}"


def install(app: Flask, state: AppState) -> Limiter:
    """Create the app's limiter and put the per-address login limit on the login endpoints."""
    limiter = Limiter(client_ip, app=app, storage_uri=limiter_storage_uri(state),
                      headers_enabled=True, swallow_errors=True, in_memory_fallback_enabled=True,
                      key_prefix="plugdesk-rl")
    app.extensions["plugdesk_limiter"] = limiter
    _check_writes_only(app, limiter)
    login_limit: Callable[[], str] = lambda: state.runtime.get("security.brute_force.ip_limit")  # noqa: E731
    limit_endpoints(app, limiter, LOGIN_ENDPOINTS, login_limit, failed_only=True,
                    exempt_when=lambda: not state.runtime.get("security.brute_force.enabled"))
    limit_endpoints(app, limiter, RESET_ENDPOINTS, RESET_LIMIT)
    register_limit: Callable[[], str] = lambda: state.runtime.get("security.registration.ip_limit")  # noqa: E731
    limit_endpoints(app, limiter, [e for e in REGISTER_ENDPOINTS if e in app.view_functions], register_limit,
                    shared_scope="register")  # the form and the API share one budget per address
    return limiter


def _check_writes_only(app: Flask, limiter: Limiter) -> None:
    """Run flask-limiter's per-request hooks for POSTs only (profiling showed it resolving, filtering and
    discarding limits on every page view, twice for a limited endpoint: once here, once in its decorator;
    then looking for deductions and headers to add, and resetting its request context, after each one)."""
    writes = lambda: LIMITED_METHODS  # noqa: E731
    check = limiter._check_request_limit
    gate_hooks(app.before_request_funcs.setdefault(None, []), lambda hook: hook == check, writes)
    gate_hooks(app.after_request_funcs.setdefault(None, []),
               lambda hook: getattr(getattr(hook, "func", None), "__name__", "").endswith("__inject_headers"),
               writes, lambda response: response)
    gate_hooks(app.teardown_request_funcs.setdefault(None, []),
               lambda hook: getattr(hook, "__name__", "").endswith("__release_context"), writes)


def _posts_only(limited: Callable[..., Any], view: Callable[..., Any]) -> Callable[..., Any]:
    """The limited view for POSTs, the plain view otherwise (the limits are declared for POST only)."""
    @wraps(view)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        return (limited if request.method in LIMITED_METHODS else view)(*args, **kwargs)
    return dispatch


def limit_endpoints(app: Flask, limiter: Limiter, endpoints: Iterable[str], limit: str | Callable[[], str], *,
                    failed_only: bool = False, exempt_when: Callable[[], bool] | None = None,
                    shared_scope: str | None = None) -> None:
    """Apply ``limit`` to POSTs of existing endpoints (``failed_only``: count only 4xx answers;
    ``shared_scope``: one counter for all the endpoints instead of one each)."""
    deduct: Callable[[Response], bool] | None = (lambda r: r.status_code >= 400) if failed_only else None
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        if shared_scope:
            limited = limiter.shared_limit(limit, shared_scope, methods=["POST"], deduct_when=deduct,
                                           exempt_when=exempt_when)
        else:
            limited = limiter.limit(limit, methods=["POST"], deduct_when=deduct, exempt_when=exempt_when,
                                    scope=endpoint)
        # the decorator keeps sync views sync
        app.view_functions[endpoint] = cast(RouteCallable, _posts_only(limited(view), view))
