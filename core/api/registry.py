"""Declare API routes together with their OpenAPI description, so the document can never drift.

A route names its request body and query parameters as pydantic models (:class:`ApiModel`); the wrapper
validates the request against them and passes the instances to the view as ``body=`` and ``query=``, and
``core.api.openapi`` generates the document's schemas from the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ClassVar, TypeVar

from flask import Blueprint, g, request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import HTTPException

from core.app_state import state
from core.auth.sessions import USER_ID_ENVIRON, has_role, token_user
from core.schema import field_errors
from core.web.errors import problem

B = TypeVar("B", bound="ApiModel")

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


class ApiModel(BaseModel):
    """Base of request bodies and query models: exact JSON types (``true`` is not a number), other keys ignored.

    ``empty_ok``: an empty request body counts as ``{}`` (every field optional).
    """

    model_config = ConfigDict(strict=True, extra="ignore")
    empty_ok: ClassVar[bool] = False


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
    body: type[ApiModel] | None = None
    query: type[ApiModel] | None = None


def parse_body(model: type[B], *, form: bool = False) -> B:
    """Validate the request body against ``model``; raise :class:`ApiProblem` (400 not an object, 422 per field).

    :param form: also accept ``multipart/form-data`` (fields are text, so they are converted leniently).
    """
    strict: bool | None = None
    if form and request.mimetype == "multipart/form-data":
        data: Any = request.form.to_dict()
        strict = False
    else:
        data = request.get_json(silent=True)
        if data is None and model.empty_ok and not request.get_data():
            data = {}
    if not isinstance(data, dict):
        raise ApiProblem(400, "Bad request", "Send a JSON object with Content-Type: application/json.")
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise ApiProblem(422, "Validation failed", "Some fields are missing or have the wrong type.",
                         field_errors(exc, model)) from None


def parse_query(model: type[B]) -> B:
    """Validate the query string against ``model`` (first value of each name; empty means absent);
    400 naming each bad parameter."""
    try:
        return model.model_validate({k: v for k, v in request.args.items() if v != ""}, strict=False)
    except ValidationError as exc:
        errors = field_errors(exc, model)
        raise ApiProblem(400, "Bad request", "Some query parameters are not valid: "
                         + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors) from None


def api_route(bp: Blueprint, path: str, method: str, *, summary: str, auth: str | None = "user",
              body: type[ApiModel] | None = None, query: type[ApiModel] | None = None,
              request_schema: dict[str, Any] | None = None,
              responses: dict[int, tuple[str, dict[str, Any] | None]] | None = None,
              tags: list[str] | None = None,
              content_types: tuple[str, ...] = ("application/json",)) -> Callable[[Callable[..., Any]], Any]:
    """Register a view on ``bp`` and record its OpenAPI operation.

    :param auth: minimum role for a bearer token (``None`` = public).
    :param body: the request body's model; the view receives the validated instance as ``body=``
        (``multipart/form-data`` too when ``content_types`` lists it).
    :param query: the query parameters' model; the view receives the validated instance as ``query=``.
    :param request_schema: a hand-written body schema for routes that read the body themselves.
    """
    form = "multipart/form-data" in content_types
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
                request.environ[USER_ID_ENVIRON] = user.id  # for the access log and metrics
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_body(body, form=form)
            return view(*args, **kwargs)

        all_responses = dict(responses or {})
        if auth is not None:
            all_responses.setdefault(401, ("Missing or invalid token", None))
        if body is not None or query is not None:
            all_responses.setdefault(400, ("Bad request", None))
        if body is not None:
            all_responses.setdefault(422, ("Validation failed", None))
        routes.append(ApiRoute(path, method.upper(), summary, auth, request_schema, all_responses,
                               tags or [bp.name], content_types, body, query))
        bp.add_url_rule(path, view_func=wrapper, methods=[method.upper()], endpoint=view.__name__)
        return wrapper

    return decorator
