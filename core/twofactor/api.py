"""Two-factor and session routes of the API (``/api/v1/me/two-factor``, ``/api/v1/me/sessions``), the admin
reset, and the second-factor part of ``POST /api/v1/auth/login``.

Passkeys are registered in a browser (Profile › Security); the API lists and removes them. Every change
needs the current ``password`` in the body, like the web pages.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify
from flask.typing import ResponseReturnValue

from core.api.registry import ApiModel, ApiProblem, api_route
from core.app_state import AppState, state
from core.auth.login import LoginOutcome
from core.auth.session_records import end_one, list_sessions
from core.auth.sessions import end_all_sessions
from core.models import AuditEntry
from core.twofactor import passkeys, recovery, service, totp
from core.types import Role
from core.users import to_info
from core.web.errors import problem
from core.web.helpers import request_info

bp = Blueprint("twofactor_api", __name__, url_prefix="/api/v1")
TAGS = ["two-factor"]
SECOND_FACTOR_TYPE = "urn:plugdesk:problem:second-factor-required"
ENROL_TYPE = "urn:plugdesk:problem:two-factor-enrolment-required"
_TS = {"type": ["string", "null"], "format": "date-time"}
PASSKEY = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                            "created_at": _TS, "last_used_at": _TS}}
STATUS = {"type": "object", "properties": {
    "enrolled": {"type": "boolean"}, "totp": {"type": "boolean"}, "totp_pending": {"type": "boolean"},
    "passkeys": {"type": "array", "items": PASSKEY}, "recovery_codes_left": {"type": "integer"},
    "required": {"type": "boolean"}, "deadline": _TS}, "required": ["enrolled", "totp", "passkeys"]}
CODES = {"type": "object", "properties": {"recovery_codes": {"type": "array", "items": {"type": "string"}}}}
SESSIONS = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                             "total": {"type": "integer"}}}


class PasswordIn(ApiModel):
    """The caller's current password (every change to the second factors needs it)."""

    password: str


class CodeIn(ApiModel):
    """A 6-digit code from the authenticator app."""

    code: str


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def login_gate(st: AppState, outcome: LoginOutcome, code: str | None) -> Response | None:
    """For ``POST /auth/login`` after the password was accepted: ``None`` to issue the token, else the answer.

    An account with a second factor needs ``totp`` (or ``recovery_code``) in the body; without one the answer
    is a 401 problem of type :data:`SECOND_FACTOR_TYPE`. A wrong code counts toward the lockout. Staff whose
    grace period is over and who have no second factor get a 403 telling them where to set one up.
    """
    user = outcome.user
    assert user is not None
    if outcome.second_factor:
        if not code:
            return problem(401, "Second factor required",
                           "This account uses two-factor login: send the current code from the authenticator app "
                           "as \"totp\" (or an unused recovery code as \"recovery_code\") with the password.",
                           type=SECOND_FACTOR_TYPE, second_factor=["totp", "recovery_code"])
        checked = service.second_step(st, user, request_info(), code=code)
        if checked.user is None:
            return problem(401, "Login failed", checked.message)
        return None
    if service.must_enrol_now(st, user):
        url = st.settings.get("server", "base_url").rstrip("/") + "/profile/security"
        return problem(403, "Two-factor enrolment required",
                       f"This help desk requires a second factor for your role. Set one up at {url}, then log in "
                       "again with \"totp\".", type=ENROL_TYPE)
    return None


def _check_password(body: PasswordIn) -> None:
    if not service.reauthenticate(state(), to_info(g.api_user), body.password, request_info()):
        raise ApiProblem(403, "Wrong password", "The current password is not correct.")


def _audit(action: str, detail: dict[str, Any] | None = None) -> None:
    with state().db.session() as s:
        s.add(AuditEntry(actor=g.api_user.username, ip=request_info().remote_addr, action=action,
                         target=g.api_user.username, new=detail))


@api_route(bp, "/me/two-factor", "GET", summary="The caller's second factors and what the policy asks", tags=TAGS,
           responses={200: ("Status", STATUS)})
def get_status() -> ResponseReturnValue:
    """Authenticator app, passkeys, recovery codes left, and the enrolment deadline if the role needs one."""
    st = state()
    info = to_info(g.api_user)
    found = service.status(st, info)
    keys = [{"id": k.id, "name": k.name, "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at)}
            for k in passkeys.keys_of(st, info.id)]
    return jsonify({"enrolled": found.enrolled, "totp": found.totp,
                    "totp_pending": totp.pending_secret(st, info.id) is not None, "passkeys": keys,
                    "recovery_codes_left": found.recovery_codes, "required": found.required,
                    "deadline": _iso(found.deadline)})


@api_route(bp, "/me/two-factor/totp", "POST", summary="Start setting up an authenticator app", tags=TAGS,
           body=PasswordIn, responses={201: ("The secret, its otpauth:// URI and a QR code (data: URI)", {
               "type": "object", "properties": {"secret": {"type": "string"}, "uri": {"type": "string"},
                                                "qr": {"type": "string"}}}),
               403: ("Wrong password", None), 409: ("An authenticator app is already set up", None)})
def totp_start(body: PasswordIn) -> ResponseReturnValue:
    """Nothing changes for logins until ``POST /me/two-factor/totp/confirm`` accepts a code."""
    _check_password(body)
    try:
        made = totp.begin(state(), g.api_user.id, g.api_user.username)
    except ValueError as exc:
        raise ApiProblem(409, "Already set up", str(exc)) from None
    return jsonify(made), 201


@api_route(bp, "/me/two-factor/totp/confirm", "POST", summary="Turn the authenticator app on with its first code",
           tags=TAGS, body=CodeIn, responses={200: ("On; the recovery codes when these are the first", CODES),
                                              422: ("Wrong code, or no set-up in progress", None)})
def totp_confirm(body: CodeIn) -> ResponseReturnValue:
    """The first second factor also brings ten recovery codes (shown only in this answer)."""
    st = state()
    if not totp.confirm(st, g.api_user.id, body.code):
        raise ApiProblem(422, "Validation failed", "The code is not right (or no set-up is in progress).",
                         {"code": "The code is not right."})
    _audit("user.twofactor_enrol", {"method": "totp"})
    out: dict[str, Any] = {}
    if recovery.remaining(st.db, g.api_user.id) == 0:
        out["recovery_codes"] = recovery.new_codes(st.db, g.api_user.id)
    return jsonify(out)


@api_route(bp, "/me/two-factor/totp/disable", "POST", summary="Remove the authenticator app", tags=TAGS,
           body=PasswordIn, responses={204: ("Removed", None), 403: ("Wrong password", None),
                                       404: ("No authenticator app", None),
                                       409: ("Your role requires a second factor; keep one", None)})
def totp_disable(body: PasswordIn) -> ResponseReturnValue:
    """Also drops the recovery codes when no other factor remains."""
    _check_password(body)
    return _remove("totp")


def _remove(what: str, key_id: int | None = None) -> ResponseReturnValue:
    st = state()
    info = to_info(g.api_user)
    if service.would_break_policy(st, info, what=what, key_id=key_id):
        raise ApiProblem(409, "Second factor required", "This help desk requires a second factor for your role: "
                         "set up another one before removing this one.")
    if not service.disable(st, info, info.username, request_info().remote_addr, what=what, key_id=key_id):
        raise ApiProblem(404, "Not found", "There is nothing to remove.")
    return "", 204


@api_route(bp, "/me/two-factor/passkeys/<int:key_id>", "DELETE", summary="Remove a passkey", tags=TAGS,
           body=PasswordIn, responses={204: ("Removed", None), 403: ("Wrong password", None),
                                       404: ("No such passkey", None),
                                       409: ("Your role requires a second factor", None)})
def passkey_delete(key_id: int, body: PasswordIn) -> ResponseReturnValue:
    """Passkeys are added in a browser (Profile › Security)."""
    _check_password(body)
    return _remove("passkey", key_id)


@api_route(bp, "/me/two-factor/recovery-codes", "POST", summary="Replace the recovery codes", tags=TAGS,
           body=PasswordIn, responses={200: ("Ten new codes (the old ones stop working)", CODES),
                                       403: ("Wrong password", None), 409: ("No second factor yet", None)})
def new_codes(body: PasswordIn) -> ResponseReturnValue:
    """Shown only in this answer."""
    _check_password(body)
    st = state()
    if not service.has_second_factor(st, g.api_user.id):
        raise ApiProblem(409, "No second factor", "Set up an authenticator app or a passkey first.")
    _audit("user.twofactor_recovery_codes")
    return jsonify({"recovery_codes": recovery.new_codes(st.db, g.api_user.id)})


@api_route(bp, "/me/sessions", "GET", summary="The caller's web sessions and API tokens", tags=["sessions"],
           responses={200: ("Sessions and tokens, most recently used first", SESSIONS)})
def my_sessions() -> ResponseReturnValue:
    """``kind`` (``web`` / ``token``), ``id``, ``created_at``, ``last_used_at``, ``ip``, ``user_agent``."""
    rows = [r.as_json() for r in list_sessions(state().db, g.api_user.id)]
    return jsonify({"items": rows, "total": len(rows)})


@api_route(bp, "/me/sessions/<kind>/<int:row_id>", "DELETE", summary="End one web session or API token",
           tags=["sessions"], responses={204: ("Ended", None), 404: ("No such session or token", None)})
def end_session(kind: str, row_id: int) -> ResponseReturnValue:
    """``kind`` is ``web`` or ``token`` (ending the caller's own token logs it out)."""
    if not end_one(state().db, g.api_user.id, kind, row_id):
        raise ApiProblem(404, "Not found", "There is no such session or token.")
    _audit("user.session_end", {"kind": kind, "id": row_id})
    return "", 204


@api_route(bp, "/me/sessions/end-all", "POST", summary="End every session and token, the caller's too",
           tags=["sessions"], responses={204: ("Everything ended", None)})
def end_all() -> ResponseReturnValue:
    """Like logging out everywhere."""
    _audit("user.session_end_all")
    end_all_sessions(state().db, g.api_user.id)
    return "", 204


@api_route(bp, "/users/<int:user_id>/two-factor/reset", "POST", summary="Reset a user's second factors (admins)",
           auth=Role.ADMIN, tags=TAGS, responses={204: ("Reset; the user was emailed and logged out", None),
                                               403: ("Forbidden", None), 404: ("No such user", None),
                                               409: ("Not for your own account", None)})
def admin_reset(user_id: int) -> ResponseReturnValue:
    """Removes the authenticator app, passkeys and recovery codes; audited."""
    if user_id == g.api_user.id:
        raise ApiProblem(409, "Not allowed", "Ask another administrator to reset your own second factor.")
    try:
        service.admin_reset(state(), user_id, g.api_user.username, request_info().remote_addr)
    except LookupError:
        raise ApiProblem(404, "Not found", "There is no user with this id.") from None
    return "", 204


@bp.errorhandler(ApiProblem)
def _problem(exc: ApiProblem) -> ResponseReturnValue:
    return exc.get_response()
