"""Core API routes: auth, me, security settings, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from pydantic import ConfigDict

from core.api.openapi import build_openapi
from core.api.registry import ApiModel, ApiProblem, api_route
from core.app_state import state
from core.auth.accounts import PasswordRejected, change_password, flag_noncompliant_password, register
from core.auth.login import authenticate
from core.auth.sessions import end_all_sessions, issue_token
from core.models import User
from core.runtime_settings import SettingsValidationError
from core.types import Role
from core.users import AccountError, to_info
from core.web.helpers import request_info

api_blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
bp = api_blueprint

USER_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"},
    "display_name": {"type": "string"}, "role": {"type": "string"}, "provider": {"type": "string"},
    "verified": {"type": "boolean"}, "must_change_password": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"}},
    "required": ["id", "username", "role", "verified"]}
SETTINGS_SCHEMA = {"type": "object", "additionalProperties": True}


class LoginIn(ApiModel):
    """``POST /auth/login``; ``totp`` (or ``recovery_code``) for accounts with two-factor login."""

    username: str
    password: str
    totp: str | None = None
    recovery_code: str | None = None


class RegisterIn(ApiModel):
    """``POST /auth/register``; captcha answer fields (e.g. ``captcha_token``) travel alongside."""

    model_config = ConfigDict(extra="allow")
    username: str
    email: str
    password: str
    display_name: str = ""


class ResetIn(ApiModel):
    """``POST /auth/password-reset``: a username or an email address."""

    login: str


class ResetConfirmIn(ApiModel):
    """``POST /auth/password-reset/confirm``."""

    token: str
    password: str


class PasswordChangeIn(ApiModel):
    """``POST /me/password``."""

    current_password: str
    new_password: str


class SettingsPatchIn(ApiModel):
    """``PATCH /settings/security``: ``{"security.KEY": value, ...}``; each value is checked by its setting."""

    model_config = ConfigDict(extra="allow")


def user_json(user: User) -> dict[str, Any]:
    """The API shape of a user."""
    info = to_info(user)
    return {"id": info.id, "username": info.username, "email": info.email, "display_name": info.display_name,
            "role": info.role, "provider": info.provider, "verified": info.verified,
            "must_change_password": user.must_change_password,
            "created_at": info.created_at.isoformat().replace("+00:00", "Z")}


@api_route(bp, "/auth/login", "POST", summary="Log in and get a bearer token", auth=None,
           body=LoginIn, responses={200: ("Token", {"type": "object", "properties": {
               "token": {"type": "string"}, "user": USER_SCHEMA}, "required": ["token"]}),
               401: ("Wrong credentials (same answer for every reason), or a second factor is needed (problem "
                     "type urn:plugdesk:problem:second-factor-required: send \"totp\")", None),
               400: ("Bad request", None), 403: ("A second factor must be set up first", None),
               422: ("Validation failed", None), 429: ("Too many failed logins from this address", None)})
def login(body: LoginIn) -> ResponseReturnValue:
    """Same 401 for wrong password, unknown user and locked account."""
    st = state()
    outcome = authenticate(st, body.username, body.password, request_info())
    if outcome.user is None:
        raise ApiProblem(401, "Login failed", outcome.message)
    from core.twofactor.api import login_gate

    refused = login_gate(st, outcome, body.totp or body.recovery_code)
    if refused is not None:  # a second factor is missing or wrong, or must be set up first
        return refused
    flag_noncompliant_password(st, outcome.user, body.password)
    with st.db.session() as s:
        user = s.get_one(User, outcome.user.id)
        token = issue_token(st.db, user)
        return jsonify({"token": token, "user": user_json(user)})


@api_route(bp, "/auth/register", "POST", summary="Register a local account", auth=None,
           body=RegisterIn, responses={201: ("Created", USER_SCHEMA), 400: ("Bad request", None),
                                                      422: ("Validation failed", None),
                                                      403: ("Registration closed", None),
                                                      429: ("Too many registrations from this address", None)})
def register_route(body: RegisterIn) -> ResponseReturnValue:
    """Create an account (captcha rules apply as on the portal form)."""
    data = body.model_dump()
    st = state()
    if st.registration_provider() is None:
        raise ApiProblem(403, "Registration closed", "This help desk does not accept self-registration.")
    from core.captcha import check_captcha

    verdict = check_captcha(st, {k: str(v) for k, v in data.items()}, "register", request_info().remote_addr)
    if not verdict.ok:
        raise ApiProblem(422, "Validation failed", verdict.message, {"captcha": verdict.message})
    try:
        info = register(st, username=body.username, email=body.email, password=body.password,
                        display_name=body.display_name)
    except PasswordRejected as exc:
        raise ApiProblem(422, "Validation failed", "The password does not meet the requirements.",
                         {"password": exc.problems}) from None
    except AccountError as exc:
        raise ApiProblem(422, "Validation failed", exc.message, {exc.field: exc.message}) from None
    with st.db.session() as s:
        return jsonify(user_json(s.get_one(User, info.id))), 201


@api_route(bp, "/auth/password-reset", "POST", summary="Ask for a password reset email (always 202)", auth=None,
           body=ResetIn,
           responses={202: ("Accepted, whether or not the account exists", None), 400: ("Bad request", None),
                      422: ("Validation failed", None), 429: ("Too many reset requests from this address", None)})
def password_reset(body: ResetIn) -> ResponseReturnValue:
    """Same answer for every login; a link goes out only to existing local accounts."""
    from core.auth.reset import request_reset

    request_reset(state(), body.login)
    return jsonify({"detail": "If the account exists and can be reset here, an email is on its way."}), 202


@api_route(bp, "/auth/password-reset/confirm", "POST", summary="Set a new password with a reset token", auth=None,
           body=ResetConfirmIn,
           responses={204: ("Password changed; every session ended", None), 400: ("Invalid token", None),
                      422: ("Password refused", None)})
def password_reset_confirm(body: ResetConfirmIn) -> ResponseReturnValue:
    """Complete a reset; the token is single use."""
    from core.auth.reset import complete_reset
    from core.auth.tokens import TokenError

    try:
        complete_reset(state(), body.token, body.password)
    except TokenError:
        raise ApiProblem(400, "Invalid token", "The reset token is unknown, used, replaced or expired.") from None
    except PasswordRejected as exc:
        raise ApiProblem(422, "Validation failed", "The password does not meet the requirements.",
                         {"password": exc.problems}) from None
    return "", 204


@api_route(bp, "/auth/logout", "POST", summary="End every session and token of the caller",
           responses={204: ("Logged out everywhere", None)})
def logout() -> ResponseReturnValue:
    """Invalidate all tokens and web sessions of the caller."""
    end_all_sessions(state().db, g.api_user.id)
    return "", 204


@api_route(bp, "/me", "GET", summary="The caller's account", responses={200: ("The account", USER_SCHEMA)})
def me() -> ResponseReturnValue:
    """Who the token belongs to."""
    return jsonify(user_json(g.api_user))


@api_route(bp, "/me/password", "POST", summary="Change the caller's password (ends every other session)",
           body=PasswordChangeIn,
           responses={204: ("Changed; every token of the account ended", None), 400: ("Bad request", None),
                      422: ("Validation failed", None)})
def change_my_password(body: PasswordChangeIn) -> ResponseReturnValue:
    """Check the current password, apply the password rules, end every session and token."""
    try:
        change_password(state(), to_info(g.api_user), body.current_password, body.new_password,
                        request_info())
    except PasswordRejected as exc:
        raise ApiProblem(422, "Validation failed", "The new password does not meet the requirements.",
                         {exc.field: exc.problems}) from None
    except AccountError as exc:
        raise ApiProblem(422, "Validation failed", exc.message, {exc.field: exc.message}) from None
    return "", 204


@api_route(bp, "/settings/security", "GET", summary="Security settings", auth=Role.MANAGER,
           responses={200: ("Every security setting", SETTINGS_SCHEMA), 403: ("Forbidden", None)})
def get_security_settings() -> ResponseReturnValue:
    """Current values of every ``security.*`` key."""
    values = state().runtime.all()
    return jsonify({k: v for k, v in values.items() if k.startswith("security.")})


@api_route(bp, "/settings/security", "PATCH", summary="Change security settings (all or nothing)", auth=Role.ADMIN,
           body=SettingsPatchIn, responses={200: ("The new values", SETTINGS_SCHEMA),
                                                      400: ("Bad request", None), 403: ("Forbidden", None),
                                                      422: ("Validation failed; nothing changed", None)})
def patch_security_settings(body: SettingsPatchIn) -> ResponseReturnValue:
    """Validate every key first; apply all or none; audit each change."""
    data = body.model_extra or {}
    st = state()
    unknown = {k: "unknown setting" for k in data if not k.startswith("security.")}
    if unknown:
        raise ApiProblem(422, "Validation failed", "Nothing was changed.", unknown)
    try:
        changed = st.runtime.patch(data, actor=g.api_user.username, ip=request_info().remote_addr)
    except SettingsValidationError as exc:
        raise ApiProblem(422, "Validation failed", "Nothing was changed.", exc.errors) from None
    response = jsonify({k: v for k, v in st.runtime.all().items() if k.startswith("security.")})
    for warning in st.runtime.warnings({k: new for k, (_old, new) in changed.items()}):
        response.headers.add("X-Plugdesk-Warning", warning)
    return response


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of every API route."""
    return jsonify(build_openapi(current_app))


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem) -> ResponseReturnValue:
    """Problem details for API errors."""
    return exc.get_response()
