"""Account pages: confirm an email address, resend the link, change the address."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from core.app_state import state
from core.auth.login import authenticate
from core.auth.tokens import TokenError
from core.auth.verification import confirm, request_change, resend_allowed, send_verification
from core.users import AccountError, to_info
from core.web.forms import ChangeEmailForm, PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("account", __name__)


@bp.get("/verify-email/<token>")
def verify_email(token: str) -> ResponseReturnValue:
    """Follow an emailed link."""
    user = current_user()
    try:
        info = confirm(state(), token, to_info(user) if user else None)
    except TokenError as exc:
        detail = ("This link belongs to another account. Log out, then open it again."
                  if exc.reason == "belongs to another account" else
                  "This confirmation link is not valid any more (used, replaced by a newer one, or expired). "
                  "Ask for a new one from your profile.")
        return render_template("errors/error.html", status=400, title="Link not valid", detail=detail), 400
    except AccountError as exc:
        return render_template("errors/error.html", status=400, title="Address not confirmed",
                               detail=exc.message), 400
    flash(f"Thank you: {info.email} is confirmed.", "success")
    return redirect(url_for("portal.profile" if user else "portal.login"))


@bp.post("/profile/verify/resend")
@login_required()
def resend() -> ResponseReturnValue:
    """Send the confirmation link again (rate limited)."""
    if not PostForm().validate_on_submit():
        abort(400)
    user = current_user()
    assert user is not None
    st = state()
    if user.email_verified:
        flash("Your address is already confirmed.", "success")
    elif not resend_allowed(st, user.id):
        flash("We have sent several links in the last hour; please check your inbox or try later.", "error")
    elif send_verification(st, to_info(user)):
        flash(f"We sent a new confirmation link to {user.email}.", "success")
    else:
        flash("The email could not be sent. Please try again later.", "error")
    return redirect(url_for("portal.profile"))


@bp.post("/profile/email")
@login_required()
def change_email() -> ResponseReturnValue:
    """Ask to change the address: needs the current password; the link goes to the new address."""
    st = state()
    user = current_user()
    assert user is not None
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs) or "Please fill in the form.", "error")
        return redirect(url_for("portal.profile"))
    info = to_info(user)
    provider = st.provider(user.provider)
    if provider is None or provider.external:
        flash(f"Your address comes from {st.provider_label(user.provider)}; change it there.", "error")
        return redirect(url_for("portal.profile"))
    outcome = authenticate(st, user.username, form.password.data or "", request_info())
    if outcome.user is None or outcome.user.id != user.id:
        flash("The current password is not correct.", "error")
        return redirect(url_for("portal.profile"))
    try:
        request_change(st, info, form.new_email.data or "")
    except AccountError as exc:
        flash(exc.message, "error")
        return redirect(url_for("portal.profile"))
    flash("We sent a confirmation link to the new address. It takes effect once you open it.", "success")
    return redirect(url_for("portal.profile"))
