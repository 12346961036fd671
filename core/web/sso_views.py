"""Pages of redirect logins: "Sign in with ..." (begin), the provider's callback, linking an existing account.

Routes (``[server] base_url`` + path):

* ``POST /login/sso/NAME`` - a "Sign in with LABEL" button (CSRF-protected form); sends the browser to the
  provider through a short page (:func:`leave`), because browsers apply the form's CSP ``form-action 'self'``
  to the redirects of a form submission.
* ``GET /login/sso/NAME/callback`` - the redirect URI to register at the provider.
* ``GET|POST /login/sso/link`` - "this address has an account here: enter its password to link them".

Every refusal is a readable page (:class:`core.auth.redirect_login.RedirectLoginError`), never a traceback.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, make_response, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from wtforms import PasswordField
from wtforms.validators import InputRequired

from core.app_state import state
from core.auth import redirect_login as flow
from core.auth.login import authenticate, complete_login
from core.auth.sessions import start_session
from core.models import User
from core.web.forms import FlaskForm, PostForm
from core.web.helpers import request_info, safe_next

bp = Blueprint("sso", __name__)


class LinkForm(FlaskForm):
    """The password of the existing account, to link it to the external sign-in."""

    password = PasswordField("Password of your account here", validators=[InputRequired("Enter the password.")])


def install(app: Flask, csrf: CSRFProtect) -> None:
    """Collect the redirect providers (startup checks) and mount the pages."""
    st = state(app)
    st.extras["redirect_providers"] = flow.collect(st)
    app.register_blueprint(bp)


@bp.app_context_processor
def buttons() -> dict[str, Any]:
    """``sso_buttons``: ``(name, label)`` of every redirect provider, for the login page (``portal/login.html``)."""
    found = flow.providers(state())
    return {"sso_buttons": [(name, p.info.label) for name, p in found.items()]}


def _error(exc: flow.RedirectLoginError) -> ResponseReturnValue:
    return render_template("portal/sso_error.html", status=exc.status, title=exc.title,
                           detail=exc.detail), exc.status


def leave(url: str, label: str, title: str, detail: str) -> ResponseReturnValue:
    """Send the browser to a provider's ``url`` after a form POST (sign-in button, logout).

    A 303 would be blocked: the page's CSP ``form-action 'self'`` covers the redirects that follow a form
    submission. So the answer is a small page that moves on at once (``Refresh`` header and ``<meta>``) and
    has a "Continue to LABEL" link for browsers that do not.
    """
    response = make_response(render_template("portal/sso_redirect.html", url=url, label=label, title=title,
                                             detail=detail))
    response.headers["Refresh"] = f"0; url={url}"
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in(done: flow.Completed, *, recorded: bool = False,
               link: dict[str, Any] | None = None) -> ResponseReturnValue:
    """Go on exactly as a password login does: the second factor when the account has one, else the session
    (login counted and recorded, ``user_logged_in`` told); remember the provider for RP-initiated logout.

    Two-factor: an account with a second factor at plugdesk is asked for it after the provider
    (:func:`core.twofactor.web.begin`), unless the provider vouched for a second factor of its own
    (``Identity.mfa``, e.g. auth_oidc's ``trust_provider_mfa``); such a session counts as two-factor.
    Until that step passes nothing is counted or recorded (:func:`core.twofactor.service.second_step` does
    it), and a pending ``link`` of the external sign-in is made only then.

    :param recorded: the password login of the linking page already counted and recorded this login.
    :param link: the pending link (``flow.pending_link`` data) whose password was just proven.
    """
    st = state()
    from core.twofactor.service import has_second_factor

    if not done.mfa and has_second_factor(st, done.user.id):  # no session until the second factor is checked
        from core.twofactor.web import begin as second_factor

        response = second_factor(done.user, done.target)
        kept = {"sso": done.provider, **({"link": link} if link else {})}  # kept through the second step
        session["tfa"] = {**session["tfa"], **kept}
        return response
    if link is not None:
        done = flow.finish_link(st, link, done.user, request_info().remote_addr)
    if not recorded:
        flow.count_login(st, "ok")
        complete_login(st, done.user, request_info())
    with st.db.session() as s:
        start_session(s.get_one(User, done.user.id), second_factor=done.mfa)
    session[flow.SESSION_PROVIDER] = done.provider
    return redirect(safe_next(done.target))


@bp.post("/login/sso/<name>")
def begin(name: str) -> ResponseReturnValue:
    """A "Sign in with ..." button: send the browser to the provider."""
    if not PostForm().validate_on_submit():
        return _error(flow.RedirectLoginError(400, "Please try again", "The sign-in form expired. Go back to "
                                              "the login page and press the button again."))
    try:
        url = flow.begin(state(), name, safe_next(request.args.get("next")))
    except flow.RedirectLoginError as exc:
        return _error(exc)
    label = flow.providers(state())[name].info.label
    return leave(url, label, f"Signing in with {label}", f"Taking you to {label} to sign in.")


@bp.get("/login/sso/<name>/callback")
def callback(name: str) -> ResponseReturnValue:
    """The provider sends the browser back here with ``code`` and ``state`` (or ``error``)."""
    params = {key: value[:4096] for key, value in request.args.items()}
    try:
        done = flow.complete(state(), name, params, request_info())
    except flow.LinkRequired as pending:
        flow.remember_link(pending)
        return redirect("/login/sso/link", 303)
    except flow.RedirectLoginError as exc:
        return _error(exc)
    return _signed_in(done)


@bp.route("/login/sso/link", methods=["GET", "POST"])
def link() -> ResponseReturnValue:
    """Prove the password of the account that has the same email address, once; then both ways sign in."""
    st = state()
    pending = flow.pending_link(st)
    if pending is None:
        return _error(flow.RedirectLoginError(400, "This sign-in attempt has expired",
                                              "Go back to the login page and start again."))
    data, user = pending
    label = flow.providers(st)[data["p"]].info.label
    form = LinkForm()
    message = ""
    if form.validate_on_submit():
        outcome = authenticate(st, user.username, form.password.data or "", request_info())  # lockout counts
        if outcome.user is not None and outcome.user.id == user.id:  # linked now, or after the second factor
            return _signed_in(flow.Completed(user, data["p"], data.get("n", "")), recorded=True, link=data)
        message = outcome.message
    elif request.method == "POST":
        message = "Enter the password of your account here."
    return render_template("portal/sso_link.html", form=form, message=message, label=label, email=user.email,
                           username=user.username), 400 if message else 200
