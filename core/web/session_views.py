"""Profile › Sessions: the account's web sessions and API tokens; end one, or all the others."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from core.app_state import state
from core.auth.session_records import end_one, list_sessions
from core.auth.sessions import end_all_sessions, start_session
from core.models import AuditEntry, User
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("sessions", __name__, url_prefix="/profile/sessions")


@bp.get("")
@login_required()
def page() -> ResponseReturnValue:
    """Every active session and token: created, last used, address, browser."""
    user = current_user()
    assert user is not None
    rows = list_sessions(state().db, user.id, session.get("sid"))
    return render_template("portal/sessions.html", rows=rows, form=PostForm(formdata=None))


@bp.post("/end")
@login_required()
def end() -> ResponseReturnValue:
    """End one session or token (``kind`` = ``web`` or ``token``, ``id``)."""
    user = current_user()
    assert user is not None
    if not PostForm().validate_on_submit():
        abort(400)
    kind, raw_id = request.form.get("kind", ""), request.form.get("id", "")
    if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
        abort(400)
    if not end_one(state().db, user.id, kind, int(raw_id)):
        abort(404)
    with state().db.session() as s:
        s.add(AuditEntry(actor=user.username, ip=request_info().remote_addr, action="user.session_end",
                         target=user.username, new={"kind": kind, "id": int(raw_id)}))
    flash("Ended." if kind == "token" else "The session was ended.", "success")
    return redirect(url_for("sessions.page"))


@bp.post("/end-all")
@login_required()
def end_all() -> ResponseReturnValue:
    """End every session and token of the account; this browser gets a fresh session."""
    user = current_user()
    assert user is not None
    if not PostForm().validate_on_submit():
        abort(400)
    st = state()
    passed = bool(session.get("mfa"))
    end_all_sessions(st.db, user.id)
    with st.db.session() as s:
        s.add(AuditEntry(actor=user.username, ip=request_info().remote_addr, action="user.session_end_all",
                         target=user.username))
    with st.db.session() as s:  # read only: start_session writes the new record in its own transaction
        fresh = s.get(User, user.id)
        assert fresh is not None
        start_session(fresh, second_factor=passed)
    flash("Every other session and every API token was ended.", "success")
    return redirect(url_for("sessions.page"))
