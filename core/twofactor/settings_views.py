"""Profile › Security: set up and remove the authenticator app, passkeys and recovery codes.

Every change asks for the current password first (a stolen session alone cannot swap the second factor),
through the same auth chain and lockout as a login. Recovery codes are shown once, in the answer that made
them, and never again.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from core.app_state import state
from core.models import AuditEntry
from core.twofactor import passkeys, recovery, service, totp
from core.twofactor.passkeys import base64url_to_bytes, bytes_to_base64url
from core.types import UserInfo
from core.users import to_info
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("twofactor_settings", __name__, url_prefix="/profile/security")
WRONG_PASSWORD = "The current password is not correct."
KEEP_ONE = ("This help desk requires a second factor for your role: set up another one before you remove "
            "this one.")


class PasswordForm(FlaskForm):
    """The current password, to confirm a change."""

    password = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])


class ConfirmCodeForm(FlaskForm):
    """The first code the authenticator app shows."""

    code = StringField("Code from the app", validators=[InputRequired("Enter the 6-digit code."), Length(max=20)])


def _me() -> UserInfo:
    user = current_user()
    if user is None:
        abort(401)
    return to_info(user)


def _audit(user: UserInfo, action: str, detail: dict[str, Any] | None = None) -> None:
    with state().db.session() as s:
        s.add(AuditEntry(actor=user.username, ip=request_info().remote_addr, action=action, target=user.username,
                         new=detail))


def _password_ok(user: UserInfo, prefix: str = "") -> bool:
    form = PasswordForm(prefix=prefix)
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs) or "Please fill in the form.", "error")
        return False
    if not service.reauthenticate(state(), user, form.password.data or "", request_info()):
        flash(WRONG_PASSWORD, "error")
        return False
    return True


def _page(user: UserInfo, codes: list[str] | None = None, status: int = 200) -> ResponseReturnValue:
    st = state()
    pending = totp.pending_secret(st, user.id)
    enrolment = None
    if pending:
        import pyotp

        uri = pyotp.TOTP(pending, interval=totp.STEP).provisioning_uri(name=user.username,
                                                                        issuer_name=totp.issuer(st))
        enrolment = {"secret": pending, "qr": totp.qr_data_uri(uri)}
    return render_template("portal/security.html", user=user, status=service.status(st, user),
                           keys=passkeys.keys_of(st, user.id), enrolment=enrolment, codes=codes,
                           totp_form=PasswordForm(formdata=None, prefix="totp"),
                           codes_form=PasswordForm(formdata=None, prefix="codes"), key_form=PasswordForm(formdata=None),
                           code_form=ConfirmCodeForm(formdata=None)), status


@bp.get("")
@login_required()
def security() -> ResponseReturnValue:
    """The account's second factors."""
    return _page(_me())


@bp.post("/totp/start")
@login_required()
def totp_start() -> ResponseReturnValue:
    """Make a new secret and show its QR code."""
    user = _me()
    if _password_ok(user, "totp"):
        try:
            totp.begin(state(), user.id, user.username)
        except ValueError as exc:
            flash(str(exc), "error")
    return redirect(url_for("twofactor_settings.security"))


@bp.post("/totp/confirm")
@login_required()
def totp_confirm() -> ResponseReturnValue:
    """The first code from the app turns it on; the first factor also brings ten recovery codes."""
    user = _me()
    form = ConfirmCodeForm()
    if not form.validate_on_submit() or not totp.confirm(state(), user.id, form.code.data or ""):
        flash("That code is not right. Check the time on your phone and enter the newest code.", "error")
        return redirect(url_for("twofactor_settings.security"))
    _audit(user, "user.twofactor_enrol", {"method": "totp"})
    session["mfa"] = True
    flash("Authenticator app set up. From now on you log in with your password and a code.", "success")
    if recovery.remaining(state().db, user.id) == 0:
        return _page(user, recovery.new_codes(state().db, user.id))
    return redirect(url_for("twofactor_settings.security"))


@bp.post("/totp/disable")
@login_required()
def totp_disable() -> ResponseReturnValue:
    """Turn the authenticator app off (or cancel an unfinished set-up)."""
    user = _me()
    if _password_ok(user, "totp"):
        if service.would_break_policy(state(), user, what="totp"):
            flash(KEEP_ONE, "error")
        elif service.disable(state(), user, user.username, request_info().remote_addr, what="totp"):
            flash("The authenticator app was removed from your account.", "success")
    return redirect(url_for("twofactor_settings.security"))


@bp.post("/recovery-codes")
@login_required()
def new_recovery_codes() -> ResponseReturnValue:
    """Replace the recovery codes (the old ones stop working)."""
    user = _me()
    if not _password_ok(user, "codes"):
        return redirect(url_for("twofactor_settings.security"))
    if not service.has_second_factor(state(), user.id):
        flash("Set up an authenticator app or a passkey first.", "error")
        return redirect(url_for("twofactor_settings.security"))
    _audit(user, "user.twofactor_recovery_codes")
    return _page(user, recovery.new_codes(state().db, user.id))


@bp.post("/passkeys/options")
@login_required()
def passkey_options() -> ResponseReturnValue:
    """Options for ``navigator.credentials.create`` (JSON ``{"name", "password"}``)."""
    user = _me()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("password"), str):
        return jsonify({"error": "Enter your current password."}), 400
    if not service.reauthenticate(state(), user, data["password"], request_info()):
        return jsonify({"error": WRONG_PASSWORD}), 400
    raw_name = data.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    options, challenge = passkeys.registration_options(state(), user.id, user.username, user.display_name)
    session["pk_reg"] = {"challenge": bytes_to_base64url(challenge), "name": name[:passkeys.NAME_MAX],
                         "at": time.time()}
    return Response(options, mimetype="application/json")


@bp.post("/passkeys")
@login_required()
def passkey_add() -> ResponseReturnValue:
    """Store the key the browser made; the first factor also brings ten recovery codes (in the answer)."""
    user = _me()
    pending = session.pop("pk_reg", None)
    if not isinstance(pending, dict) or not isinstance(pending.get("challenge"), str) \
            or time.time() - float(pending.get("at", 0)) > 300:
        return jsonify({"error": "This took too long; please try again."}), 400
    first = not service.has_second_factor(state(), user.id)
    try:
        key = passkeys.finish_registration(state(), user.id, str(pending.get("name", "")),
                                           request.get_json(silent=True), base64url_to_bytes(pending["challenge"]))
    except passkeys.PasskeyError as exc:
        return jsonify({"error": str(exc)}), 400
    _audit(user, "user.twofactor_enrol", {"method": "passkey", "name": key.name})
    session["mfa"] = True
    body: dict[str, Any] = {"id": key.id, "name": key.name}
    if first or recovery.remaining(state().db, user.id) == 0:
        body["recovery_codes"] = recovery.new_codes(state().db, user.id)
    return jsonify(body), 201


@bp.post("/passkeys/<int:key_id>/delete")
@login_required()
def passkey_delete(key_id: int) -> ResponseReturnValue:
    """Remove one key."""
    user = _me()
    if _password_ok(user):
        if service.would_break_policy(state(), user, what="passkey", key_id=key_id):
            flash(KEEP_ONE, "error")
        elif service.disable(state(), user, user.username, request_info().remote_addr, what="passkey",
                             key_id=key_id):
            flash("The passkey was removed from your account.", "success")
        else:
            abort(404)
    return redirect(url_for("twofactor_settings.security"))
