"""Portal pages for password reset: request a link, then choose a new password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.app_state import state
from core.auth.accounts import PasswordRejected
from core.auth.reset import complete_reset, request_reset, reset_available
from core.auth.tokens import TokenError, peek
from core.web.forms import ResetForm, ResetRequestForm

bp = Blueprint("reset", __name__)
SENT = ("If an account with that username or email exists and can be reset here, we have sent it a link. "
        "Check your inbox (and spam folder).")
BAD_LINK = "This reset link is not valid any more (it was used, replaced by a newer one, or expired)."


@bp.route("/password-reset", methods=["GET", "POST"])
def request_link() -> ResponseReturnValue:
    """The same answer for every login, existing or not."""
    available, why = reset_available(state())
    form = ResetRequestForm()
    if not available:
        return render_template("portal/reset_request.html", form=form, unavailable=why), 404
    if form.validate_on_submit():
        request_reset(state(), form.login.data or "")
        return render_template("portal/reset_request.html", form=form, sent=SENT)
    errors = {k: list(v) for k, v in form.errors.items()} if request.method == "POST" else {}
    return render_template("portal/reset_request.html", form=form, errors=errors), 400 if errors else 200


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def choose_password(token: str) -> ResponseReturnValue:
    """Set a new password with a valid token."""
    st = state()
    form = ResetForm()
    try:
        peek(st.db, token, "password_reset")
    except TokenError:
        return render_template("errors/error.html", status=400, title="Link not valid",
                               detail=BAD_LINK + " Ask for a new one."), 400
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            errors["confirm"] = ["The two passwords differ."]
        else:
            try:
                complete_reset(st, token, form.password.data or "")
            except PasswordRejected as exc:
                errors["password"] = exc.problems
            except TokenError:
                return render_template("errors/error.html", status=400, title="Link not valid",
                                       detail=BAD_LINK), 400
            else:
                flash("Your password was changed. Log in with the new one.", "success")
                return redirect(url_for("portal.login"))
    elif request.method == "POST":
        errors = {k: list(v) for k, v in form.errors.items()}
    return render_template("portal/reset_choose.html", form=form, errors=errors), 400 if errors else 200
