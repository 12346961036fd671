"""Management › Mail (the outbox: queued, failed, sent in the last 7 days; retry and discard, audited) and
Management › Background jobs (worker processes, periodic jobs and their last runs: one status page), plus
the dashboard banner when messages have failed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from core.api.paging import id_in
from core.app_state import state
from core.auth.sessions import has_role
from core.outbox.admin import OutboxActionError, discard, failed_count, listing, outbox_counts, retry
from core.outbox.models import OutboxMessage
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("mail_manage", __name__, url_prefix="/manage")
PAGE = 100


@bp.route("/mail", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def mail() -> ResponseReturnValue:
    """The outbox by state, with Retry / Discard buttons (POST, CSRF-checked, audited)."""
    st = state()
    if request.method == "POST":
        return _action(st)
    with st.db.session() as s:
        queued = listing(s, ("queued", "sending"), PAGE)
        failed = listing(s, ("failed",), PAGE)
        sent = listing(s, ("sent",), PAGE)
    return render_template("manage/mail.html", queued=queued, failed=failed, sent=sent, form=PostForm(),
                           counts=outbox_counts(st.db), mail_url=_where(st))


def _where(st: Any) -> str:
    url = st.settings.get("mail", "url")
    return url.split("@")[-1] if url else f"files in {st.settings.data_dir / 'outbox'}"


def _action(st: Any) -> ResponseReturnValue:
    if not PostForm().validate_on_submit():
        abort(400)
    actor = current_user()
    assert actor is not None
    action = request.form.get("action", "")
    message_id = id_in(request.form.get("id", ""))  # never int("²"): ASCII digits within the id range
    ip = request_info().remote_addr
    hours = st.settings.get("worker", "give_up_hours")
    try:
        if action == "retry_all":
            ids = retry(st.db, None, actor=actor.username, ip=ip, give_up_hours=hours)
            flash(f"{len(ids)} failed message(s) queued again.", "success")
        elif action in ("retry", "discard") and message_id is not None:
            if action == "retry":
                retry(st.db, [message_id], actor=actor.username, ip=ip, give_up_hours=hours)
                flash(f"Message {message_id} queued again; the worker sends it shortly.", "success")
            else:
                discard(st.db, message_id, actor=actor.username, ip=ip)
                flash(f"Message {message_id} discarded.", "success")
        else:
            abort(400)
    except OutboxActionError as exc:
        flash(f"{exc}.", "error")
    return redirect(url_for("mail_manage.mail"))


@bp.get("/mail/<int:message_id>")
@login_required(Role.MANAGER)
def mail_detail(message_id: int) -> ResponseReturnValue:
    """One message: headers, attempts, the reason of the last failure (the body only for plain mail)."""
    with state().db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    if row is None:
        abort(404)
    return render_template("manage/mail_detail.html", m=row, form=PostForm())


@bp.get("/jobs")
@login_required(Role.MANAGER)
def jobs() -> ResponseReturnValue:
    """Background work at a glance: workers seen in the last hour, periodic jobs, the outbox."""
    from core.worker.runner import recent_workers
    from core.worker.scheduler import job_status

    st = state()
    return render_template("manage/jobs.html", workers=recent_workers(st), jobs=job_status(st),
                           counts=outbox_counts(st.db), embedded=st.settings.get("worker", "embedded"))


def install(app: Flask) -> None:
    """Register the pages and the ``mail_failed_count()`` template helper of the dashboard banner."""
    app.register_blueprint(bp)

    def mail_failed_count() -> int:
        user = current_user()
        if user is None or not has_role(user, Role.MANAGER):
            return 0
        return failed_count(state().db)

    app.jinja_env.globals["mail_failed_count"] = mail_failed_count
