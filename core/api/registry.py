"""Declare API routes together with their OpenAPI description, so the document can never drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, g, request
from werkzeug.exceptions import HTTPException

from core.app_state import state
from core.auth.sessions import has_role, token_user
from core.web.errors import problem

PASSWORD_CHANGE_ALLOWED = ("api.me", "api.change_my_password", "api.logout")


class ApiProblem(HTTPException):
    """Raise to answer with problem+json (``errors`` per field for validation problems)."""

    def __init__(self, status: int, title: str, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.code = status
        self.title = title
        self.detail = detail
        self.errors = errors

    def get_response(self, environ: Any = None, scope: Any = None) -> Any:  # type: ignore[override]
        extra = {"errors": self.errors} if self.errors else {}
        return problem(self.code or 400, self.title, self.detail, **extra)


@dataclass
class ApiRoute:
    """One documented operation."""

    path: str
    method: str
    summary: str
    auth: str | None
    request: dict[str, Any] | None
    responses: dict[int, tuple[str, dict[str, Any] | None]]
    tags: list[str] = field(default_factory=list)
    content_types: tuple[str, ...] = ("application/json",)


def api_route(bp: Blueprint, path: str, method: str, *, summary: str, auth: str | None = "user",
              request_schema: dict[str, Any] | None = None,
              responses: dict[int, tuple[str, dict[str, Any] | None]] | None = None,
              tags: list[str] | None = None,
              content_types: tuple[str, ...] = ("application/json",)) -> Callable[[Callable[..., Any]], Any]:
    """Register a view on ``bp`` and record its OpenAPI operation.

    :param auth: minimum role for a bearer token (``None`` = public).
    """
    routes: list[ApiRoute] = bp.__dict__.setdefault("openapi_routes", [])

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if auth is not None:
                header = request.headers.get("Authorization", "")
                scheme, _, token = header.partition(" ")
                user = token_user(state().db, token.strip()) if scheme.lower() == "bearer" else None
                if user is None:
                    raise ApiProblem(401, "Unauthorized", "Send a valid token: Authorization: Bearer <token>.")
                if not has_role(user, auth):
                    raise ApiProblem(403, "Forbidden", f"This needs the {auth} role or higher.")
                if user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ALLOWED:
                    raise ApiProblem(403, "Password change required", "This account's password no longer meets "
                                     "the requirements; change it with POST /api/v1/me/password first.")
                g.api_user = user
            return view(*args, **kwargs)

        all_responses = dict(responses or {})
        if auth is not None:
            all_responses.setdefault(401, ("Missing or invalid token", None))
        routes.append(ApiRoute(path, method.upper(), summary, auth, request_schema, all_responses,
                               tags or [bp.name], content_types))
        bp.add_url_rule(path, view_func=wrapper, methods=[method.upper()], endpoint=view.__name__)
        return wrapper

    return decorator


def json_body(required: dict[str, type] | None = None, optional: dict[str, type] | None = None) -> dict[str, Any]:
    """The request's JSON object, type-checked; raise :class:`ApiProblem` naming every bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiProblem(400, "Bad request", "Send a JSON object with Content-Type: application/json.")
    errors: dict[str, str] = {}
    spec = {**(optional or {}), **(required or {})}
    for name, kind in spec.items():
        if name not in data:
            if required and name in required:
                errors[name] = "This field is required."
            continue
        value = data[name]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            errors[name] = f"Expected {kind.__name__}."
    if errors:
        raise ApiProblem(422, "Validation failed", "Some fields are missing or have the wrong type.", errors)
    return data
