"""The moderation queue page (agents and above): each pending post with every plugin's reason."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.app_state import state
from core.community.models import CommunityPost
from core.community.service import CommunityError, decide, names, queue
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import logged_in_user, login_required

bp = Blueprint("moderation", __name__, url_prefix="/manage/moderation")


@bp.get("/")
@login_required(Role.AGENT)
def index() -> ResponseReturnValue:
    """Pending posts, oldest first."""
    with state().db.session() as s:
        posts = queue(s)
        authors = names(s, {p.author_id for p in posts})
        threads = {p.thread_id: s.get(CommunityPost, p.thread_id) for p in posts if p.thread_id}
    return render_template("manage/moderation.html", posts=posts, authors=authors, threads=threads, form=PostForm())


@bp.post("/<int:post_id>")
@login_required(Role.AGENT)
def act(post_id: int) -> ResponseReturnValue:
    """Approve or reject one post (``action=approve|reject``, optional ``message`` to the author)."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        abort(400)
    try:
        decide(state(), logged_in_user(), post_id, action == "approve", request.form.get("message", ""))
    except CommunityError as exc:
        flash(exc.message, "error")
    else:
        flash("Approved and published." if action == "approve" else "Rejected.", "success")
    return redirect(url_for("moderation.index"))
