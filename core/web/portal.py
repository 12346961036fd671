"""Portal pages for end users: home, register, login, logout, profile (change password)."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from core.app_state import state
from core.auth.accounts import change_password, flag_noncompliant_password, register
from core.auth.login import authenticate
from core.auth.sessions import end_all_sessions, start_session
from core.captcha import render_captcha
from core.models import User
from core.users import AccountError, to_info
from core.web.fastpaths import shell_links
from core.web.forms import (
    BlankForm,
    ChangeEmailForm,
    ChangePasswordForm,
    LoginForm,
    PostForm,
    RegisterForm,
    blank_form,
)
from core.web.helpers import current_user, login_required, request_info, safe_next

bp = Blueprint("portal", __name__)


#: What ``base.html`` uses of a :class:`PostForm` (the logout button's CSRF field, same token and markup),
#: without building a WTForms form on every page a logged-in user sees (issue 22).
_LOGOUT = BlankForm({})


@bp.app_context_processor
def inject() -> dict[str, object]:
    """Values every template may use."""
    st = state()
    # Forms only for logged-in users: a CSRF token would start a session (and a cookie) for every anonymous
    # reader. formdata=None: these forms only render; reading the body here would re-raise 413 on error pages.
    user = current_user()
    return {"current_user": user, "logout_form": _LOGOUT if user else None, "shell": shell_links(),
            "can_register": st.registration_provider() is not None, "captcha_enabled": False}


PASSWORD_CHANGE_ALLOWED = ("portal.profile", "portal.logout", "static", "portal.healthz", "account.verify_email")


@bp.before_app_request
def enforce_password_change() -> ResponseReturnValue | None:
    """Users flagged by "enforce on existing passwords" must choose a new password before anything else."""
    if request.endpoint in PASSWORD_CHANGE_ALLOWED or request.path.startswith("/api/"):
        return None
    user = current_user()
    if user is not None and user.must_change_password:
        flash("Your password no longer meets this help desk's requirements. Please choose a new one.", "error")
        return redirect(url_for("portal.profile"))
    return None


@bp.get("/")
def index() -> ResponseReturnValue:
    """Portal home: KB search, categories, newest and most helpful articles, the customer's next steps."""
    from core.kb.home import home
    from core.web.greeting import returning

    user = current_user()
    return render_template("portal/index.html", home=home(state()), returning=returning(user))


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database and the storage backend answer, 503 otherwise (with details).

    ``checks.limits`` reports the counter storage (Redis): ``degraded`` when it is unreachable, with the
    reason in ``detail.limits``; login keeps working with per-node counters, so the status stays 200.
    """
    st = state()
    checks: dict[str, str] = {}
    detail: dict[str, str] = {}
    try:
        with st.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    storage = st.storage
    if storage is None:
        checks["storage"] = "not configured"
    else:
        try:
            storage.check()
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = f"error: {exc.__class__.__name__}"
    try:
        st.lockout.store.ping()
        checks["limits"] = "ok"
    except Exception as exc:
        checks["limits"] = "degraded"
        detail["limits"] = (f"{exc}; failed logins and rate limits are counted per node until the limits "
                            "storage is back (lockout fails open to per-node counting)")
        logging.getLogger("plugdesk.limits").warning("healthz: limits storage degraded: %s", exc)
    healthy = all(v in ("ok", "not configured") for k, v in checks.items() if k != "limits")
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if detail:
        body["detail"] = detail
    from core.ops.health import health_details

    body.update(health_details(st))  # schema revision, each plugin's health (never changes "status")
    return jsonify(body), 200 if healthy else 503


def _logged_in(user_id: int, message: str, endpoint: str) -> ResponseReturnValue:
    """Start a fresh session for ``user_id``, say ``message`` and go to ``endpoint``."""
    with state().db.session() as s:
        start_session(s.get_one(User, user_id))
    flash(message, "success")
    return redirect(url_for(endpoint))


@bp.route("/register", methods=["GET", "POST"])
def register_view() -> ResponseReturnValue:
    """Create a local account."""
    st = state()
    if st.registration_provider() is None:
        return render_template("errors/error.html", status=404, title="Registration is closed",
                               detail="This help desk does not accept self-registration."), 404
    form = RegisterForm()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        from core.web.register_check import registration_problems

        form.validate()
        errors = registration_problems(st, form, request.form, request_info().remote_addr)  # all at once
        if not errors:
            try:
                user = register(st, username=form.username.data or "", email=form.email.data or "",
                                password=form.password.data or "", display_name=form.display_name.data or "")
            except AccountError as exc:
                errors[exc.field] = exc.messages
            else:
                return _logged_in(user.id, "Welcome! Your account is ready.", "portal.index")
    status = 400 if errors else 200
    from core.web.register_check import summary

    return render_template("portal/register.html", form=form, errors=errors, problems=summary(errors),
                           captcha=render_captcha(st, "register")), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in through the auth chain."""
    from core.auth.reset import reset_available

    if request.method != "POST":
        return render_template("portal/login.html", form=blank_form(LoginForm), message="",
                               reset_offered=reset_available(state())[0])
    form = LoginForm()
    message = ""
    if form.validate_on_submit():
        st = state()
        outcome = authenticate(st, form.username.data or "", form.password.data or "", request_info())
        if outcome.user is not None:
            flag_noncompliant_password(st, outcome.user, form.password.data or "")
            if outcome.second_factor:  # no session until the second factor is checked
                from core.twofactor.web import begin

                return begin(outcome.user, request.args.get("next") or "")
            with st.db.session() as s:
                start_session(s.get_one(User, outcome.user.id))
            return redirect(safe_next(request.args.get("next")))
        message = outcome.message
    else:
        message = "Enter your username and password."
    return render_template("portal/login.html", form=form, message=message,
                           reset_offered=reset_available(state())[0]), 400 if message else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out (this ends every session of the account, on every device)."""
    form = PostForm()
    user = current_user()
    from flask import session

    from core.auth.redirect_login import SESSION_PROVIDER, logout_url, providers

    provider_logout = None
    sso_name = session.get(SESSION_PROVIDER)
    if form.validate_on_submit() and user is not None:
        end_all_sessions(state().db, user.id)
        provider_logout = logout_url(state(), to_info(user), sso_name)  # single sign-on
    session.clear()
    flash("You have been logged out.", "success")
    if provider_logout:  # a page, not a redirect: the form's CSP form-action 'self' would block it
        from core.web.sso_views import leave

        found = providers(state()).get(sso_name or "")
        label = found.info.label if found else "your identity provider"
        return leave(provider_logout, label, "Signing you out", f"You are signed out here. Signing you out at "
                     f"{label} too.")
    return redirect(url_for("portal.index"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required()
def profile() -> ResponseReturnValue:
    """Profile and change password."""
    st = state()
    user = current_user()
    assert user is not None
    info = to_info(user)
    provider = st.provider(user.provider)
    form = ChangePasswordForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            errors["confirm"] = ["The two passwords differ."]
        else:
            try:
                change_password(st, info, form.current_password.data or "", form.new_password.data or "",
                                request_info())
            except AccountError as exc:
                errors[exc.field] = exc.messages
            else:
                return _logged_in(user.id, "Your password was changed. Other devices have been logged out.",
                                  "portal.profile")
    elif request.method == "POST":
        errors = {k: list(v) for k, v in form.errors.items()}
    return render_template("portal/profile.html", user=info, form=form, errors=errors,
                           email_form=ChangeEmailForm(formdata=None),
                           external=provider is None or provider.external,
                           provider_label=st.provider_label(user.provider)), 400 if errors else 200
