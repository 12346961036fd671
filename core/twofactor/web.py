"""The second step of a web login, the enrolment gate, and the administrators' reset button.

After the password step (``portal.login``) an account with a second factor gets no session, only a pending
marker in the signed cookie (user id, session version, time, where to go next) that lives five minutes.
``/login/two-factor`` then takes a code from the authenticator app, a recovery code, or a passkey.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from core.app_state import state
from core.auth.sessions import start_session
from core.models import User
from core.twofactor import passkeys, service
from core.twofactor.models import Passkey, TotpSecret
from core.twofactor.passkeys import base64url_to_bytes, bytes_to_base64url
from core.types import Role, UserInfo
from core.users import to_info
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info, safe_next

bp = Blueprint("twofactor", __name__)
PENDING_SECONDS = 300
#: Pages a user who must enrol now may still open.
ENROL_ALLOWED = ("portal.logout", "static", "portal.healthz", "account.verify_email", "account.resend")


class CodeForm(FlaskForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField("Code", validators=[InputRequired("Enter the code."), Length(max=64)])


def begin(user: UserInfo, target: str) -> ResponseReturnValue:
    """The password was right and the account has a second factor: remember that, ask for the factor."""
    with state().db.session() as s:
        version = s.scalar(select(User.session_version).where(User.id == user.id))
    session.clear()
    session["tfa"] = {"uid": user.id, "sv": version, "at": time.time(), "next": safe_next(target)}
    return redirect(url_for("twofactor.verify"))


def _pending() -> UserInfo | None:
    """The user whose second step is pending in this browser (fresh, same session version, active)."""
    data = session.get("tfa")
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    if not isinstance(data.get("at"), int | float) or time.time() - data["at"] > PENDING_SECONDS:
        return None
    with state().db.session() as s:
        user = s.get(User, data["uid"])
        if user is None or not user.is_active or user.session_version != data.get("sv"):
            return None
        return to_info(user)


def _finish(user: UserInfo) -> str:
    """Start the real session (second factor passed); return where to go."""
    pending = session.get("tfa") or {}
    target = safe_next(pending.get("next"))
    with state().db.session() as s:
        row = s.get(User, user.id)
        assert row is not None  # _pending() just read it
        start_session(row, second_factor=True)
    if isinstance(pending.get("sso"), str):  # a single sign-on: keep its provider for RP-initiated logout
        session["sso"] = pending["sso"]
    link = pending.get("link")
    if isinstance(link, dict) and link.get("u") == user.id:  # "link this sign-in" waited for the second factor
        from core.auth import redirect_login

        redirect_login.finish_link(state(), link, user, request_info().remote_addr)
    return target


@bp.route("/login/two-factor", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    """Ask for the second factor of a pending login."""
    user = _pending()
    if user is None:
        session.pop("tfa", None)
        flash("Please log in again: the sign-in took too long or was interrupted.", "error")
        return redirect(url_for("portal.login"))
    form = CodeForm()
    message = ""
    if form.validate_on_submit():
        outcome = service.second_step(state(), user, request_info(), code=form.code.data or "")
        if outcome.user is not None:
            return redirect(_finish(user))
        message = outcome.message
    elif request.method == "POST":
        message = "Enter the code."
    st = state()
    with st.db.session() as s:
        has_totp = s.scalar(select(TotpSecret.user_id).where(TotpSecret.user_id == user.id,
                                                             TotpSecret.confirmed_at.is_not(None))) is not None
        has_keys = s.scalar(select(Passkey.id).where(Passkey.user_id == user.id).limit(1)) is not None
    return render_template("portal/twofactor_verify.html", form=form, message=message, has_totp=has_totp,
                           has_keys=has_keys), 400 if message else 200


@bp.post("/login/two-factor/passkey/options")
def passkey_options() -> ResponseReturnValue:
    """Options for ``navigator.credentials.get`` limited to the pending user's keys."""
    user = _pending()
    made = passkeys.authentication_options(state(), user.id) if user else None
    if made is None:
        return jsonify({"error": "Please log in again."}), 400
    options, challenge = made
    session["tfa_challenge"] = bytes_to_base64url(challenge)
    return Response(options, mimetype="application/json")


@bp.post("/login/two-factor/passkey")
def passkey_login() -> ResponseReturnValue:
    """Check the browser's passkey answer; counts toward the lockout like a wrong code."""
    user = _pending()
    challenge = session.pop("tfa_challenge", None)
    if user is None or not isinstance(challenge, str):
        return jsonify({"error": "Please log in again."}), 400
    credential: Any = request.get_json(silent=True)
    outcome = service.second_step(state(), user, request_info(),
                                  passkey=(credential, base64url_to_bytes(challenge)))
    if outcome.user is None:
        return jsonify({"error": "The passkey was not accepted, or the account is temporarily locked."}), 400
    return jsonify({"redirect": _finish(user)})


def enrolment_gate() -> ResponseReturnValue | None:
    """Users the policy covers whose grace period is over can only set up a second factor (and log out)."""
    if request.path.startswith("/api/") or session.get("mfa"):
        return None
    endpoint = request.endpoint or ""
    if endpoint in ENROL_ALLOWED or endpoint.startswith("twofactor_settings."):
        return None
    user = current_user()
    if user is None or user.must_change_password or not service.required(state(), user.role):
        return None  # a password that must change comes first (its own gate)
    if service.has_second_factor(state(), user.id):
        session["mfa"] = True  # enrolled on another device meanwhile: nothing to ask any more
        return None
    due = service.deadline(state(), user)
    from core.models import utcnow

    if due is not None and utcnow() >= due:
        flash("This help desk requires a second factor for your role. Set one up to continue.", "error")
        return redirect(url_for("twofactor_settings.security"))
    if due is not None and not session.get("mfa_nag"):
        session["mfa_nag"] = True
        flash(f"Please set up two-factor login before {due:%Y-%m-%d} (Profile › Security); it will be required "
              "from then on.", "error")
    return None


@bp.post("/manage/users/<int:user_id>/two-factor/reset")
@login_required(Role.ADMIN)
def admin_reset(user_id: int) -> ResponseReturnValue:
    """Remove every second factor of another user (audited; the user is emailed and logged out)."""
    actor = current_user()
    assert actor is not None
    if not PostForm().validate_on_submit():
        abort(400)
    if actor.id == user_id:
        flash("Ask another administrator to reset your own second factor.", "error")
        return redirect(url_for("manage.users"))
    try:
        info = service.admin_reset(state(), user_id, actor.username, request_info().remote_addr)
    except LookupError:
        abort(404)
    flash(f"Two-factor login of {info.username} was reset; they have been emailed and logged out.", "success")
    return redirect(url_for("manage.users"))


def enrolled_ids() -> set[int]:
    """Ids of every user with a second factor (one query; for the admin's Users page)."""
    with state().db.session() as s:
        ids = set(s.scalars(select(TotpSecret.user_id).where(TotpSecret.confirmed_at.is_not(None))))
        ids.update(s.scalars(select(Passkey.user_id).distinct()))
    return ids
