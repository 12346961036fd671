"""Small helpers shared by the portal, management and API views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import abort, redirect, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from core.app_state import state
from core.auth.sessions import has_role, session_user
from core.models import User
from core.types import RequestInfo


def request_info() -> RequestInfo:
    """The :class:`RequestInfo` for plugins; ``remote_addr`` is already proxy-corrected by ProxyFix."""
    return RequestInfo(remote_addr=request.remote_addr or "", user_agent=request.user_agent.string[:300],
                       scheme=request.scheme, path=request.path)


def current_user() -> User | None:
    """The logged-in user (web session); ``None`` as well when the database cannot be asked."""
    try:
        return session_user(state().db)
    except SQLAlchemyError:
        return None


def logged_in_user() -> User:
    """The user of a view behind :func:`login_required`; 401 if the session ended since the check."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def login_required(role: str = "user") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a logged-in user with at least ``role``; anonymous users are sent to the login page."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))
            if not has_role(user, role):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def safe_next(target: str | None) -> str:
    """Only local redirect targets (no open redirect).

    Refused: anything that is not a path starting with one ``/``, backslashes, and every control character or
    whitespace (browsers and Werkzeug drop tabs and newlines, so ``/\\t/evil.example`` would become
    ``//evil.example``, and CR/LF cannot go into a ``Location`` header at all).
    """
    if (target and len(target) <= 2000 and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and not any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0
                                               for ch in target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("portal.index")
