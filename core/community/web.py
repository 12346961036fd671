"""Community portal pages (threads, replies, edit, delete) and the registration of KB + community blueprints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from core.api.paging import id_in, offset_of, page_number
from core.app_state import state
from core.captcha import check_captcha, render_captcha
from core.community.models import CommunityCategory, CommunityPost
from core.community.service import (
    CommunityError,
    can_delete,
    can_edit,
    can_see,
    create_reply,
    create_thread,
    delete_post,
    edit_post,
    is_moderator,
    list_threads,
    names,
    replies,
)
from core.types import PostStatus
from core.users import to_info
from core.web.forms import PostForm
from core.web.helpers import current_user, logged_in_user, login_required, request_info

bp = Blueprint("community", __name__, url_prefix="/community")
PAGE_SIZE = 30


def register(app: Flask, csrf: Any) -> None:
    """Mount the KB and community blueprints (pages, management, API) on ``app``; the APIs skip CSRF."""
    from core.community import api as community_api
    from core.community import manage as community_manage
    from core.kb import api as kb_api
    from core.kb import manage as kb_manage
    from core.kb import microcache
    from core.kb import web as kb_web
    from core.kb.attachments import register_owner_types
    from core.kb.service import runtime

    for blueprint in (kb_web.bp, kb_manage.bp, kb_api.bp, bp, community_manage.bp, community_api.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(kb_api.bp)
    csrf.exempt(community_api.bp)
    csrf.exempt(kb_web.feedback)  # checks the token itself for logged-in users (see its docstring)
    register_owner_types()
    microcache.install(app, runtime(app.extensions["plugdesk"]).page_cache, kb_web.VOTER_COOKIE)


def _categories() -> list[CommunityCategory]:
    with state().db.session() as s:
        return list(s.scalars(select(CommunityCategory).order_by(CommunityCategory.name)))


def _category_arg(raw: str | None) -> int | None:
    return id_in(raw or "")


@bp.get("/")
def index() -> ResponseReturnValue:
    """Threads the reader may see (their own pending ones marked), newest first."""
    user = current_user()
    page = page_number()
    with state().db.session() as s:
        threads, total = list_threads(s, user, limit=PAGE_SIZE, offset=offset_of(page, PAGE_SIZE))
        ids = [t.id for t in threads]
        counts = dict(s.execute(select(CommunityPost.thread_id, func.count()).where(
            CommunityPost.thread_id.in_(ids), CommunityPost.status == PostStatus.PUBLISHED).group_by(
            CommunityPost.thread_id)).all()) if ids else {}
        authors = names(s, {t.author_id for t in threads})
    return render_template("community/index.html", threads=threads, total=total, counts=counts, authors=authors,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)))


@bp.route("/new", methods=["GET", "POST"])
@login_required()
def new_thread() -> ResponseReturnValue:
    """Start a thread (captcha for users whose email is not verified)."""
    st = state()
    user = logged_in_user()
    info = to_info(user)
    form = PostForm()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"title": "", "body": "", "category_id": None}
    if request.method == "POST":
        values = {"title": request.form.get("title", ""), "body": request.form.get("body", ""),
                  "category_id": _category_arg(request.form.get("category_id"))}
        if not form.validate_on_submit():
            errors["form"] = "The form expired; please send it again."
        else:
            verdict = check_captcha(st, request.form, "community_thread", request_info().remote_addr, info)
            if not verdict.ok:
                errors["captcha"] = verdict.message
            else:
                try:
                    post = create_thread(st, user, values["title"], values["body"], values["category_id"])
                except CommunityError as exc:
                    errors[exc.field] = exc.message
                else:
                    flash(_status_message(post), "success" if post.status != PostStatus.REJECTED else "error")
                    return redirect(url_for("community.thread", thread_id=post.id))
    return render_template("community/new.html", form=form, errors=errors, values=values,
                           categories=_categories(), captcha=render_captcha(st, "community_thread", info)), \
        400 if errors else 200


def _status_message(post: CommunityPost) -> str:
    if post.status == PostStatus.PENDING:
        return "Thank you! Your post is waiting for a moderator's approval; until then only you can see it."
    if post.status == PostStatus.REJECTED:
        return "Your post was not accepted."
    return "Your post is published."


@bp.get("/t/<int:thread_id>")
def thread(thread_id: int) -> ResponseReturnValue:
    """A thread with its replies (pending ones only for their author and moderators)."""
    user = current_user()
    with state().db.session() as s:
        post = s.get(CommunityPost, thread_id)
        if post is None or post.kind != "thread" or not can_see(post, user):
            abort(404)
        items = replies(s, thread_id, user)
        authors = names(s, {post.author_id, *(r.author_id for r in items)})
        category = s.get(CommunityCategory, post.category_id) if post.category_id else None
    return render_template("community/thread.html", thread=post, replies=items, authors=authors, category=category,
                           form=PostForm(), user=user, can_edit=can_edit, can_delete=can_delete,
                           moderator=is_moderator(user), error=request.args.get("error", ""))


@bp.post("/t/<int:thread_id>/reply")
@login_required()
def reply(thread_id: int) -> ResponseReturnValue:
    """Reply to a thread."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        post = create_reply(state(), logged_in_user(), thread_id, request.form.get("body", ""))
    except CommunityError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
        return redirect(url_for("community.thread", thread_id=thread_id))
    flash(_status_message(post), "success" if post.status != PostStatus.REJECTED else "error")
    return redirect(url_for("community.thread", thread_id=thread_id) + f"#post-{post.id}")


@bp.route("/p/<int:post_id>/edit", methods=["GET", "POST"])
@login_required()
def edit(post_id: int) -> ResponseReturnValue:
    """Edit a post (authors within the edit window, moderators always)."""
    st = state()
    user = logged_in_user()
    with st.db.session() as s:
        post = s.get(CommunityPost, post_id)
        if post is None or not can_see(post, user):
            abort(404)
    if not can_edit(post, user):
        abort(403)
    errors: dict[str, str] = {}
    values = {"title": post.title, "body": post.body_html}
    if request.method == "POST":
        values = {"title": request.form.get("title", post.title), "body": request.form.get("body", "")}
        if not PostForm().validate_on_submit():
            errors["form"] = "The form expired; please send it again."
        else:
            try:
                saved = edit_post(st, user, post_id, values["body"], values["title"])
            except CommunityError as exc:
                errors[exc.field] = exc.message
            else:
                flash("Saved. " + (_status_message(saved) if saved.status != PostStatus.PUBLISHED else ""), "success")
                return redirect(url_for("community.thread", thread_id=saved.thread_id or saved.id))
    return render_template("community/edit.html", post=post, values=values, errors=errors, form=PostForm()), \
        400 if errors else 200


@bp.post("/p/<int:post_id>/delete")
@login_required()
def delete(post_id: int) -> ResponseReturnValue:
    """Delete a post (a thread with its replies)."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        post = delete_post(state(), logged_in_user(), post_id)
    except CommunityError as exc:
        abort(exc.status)
    flash("The post was deleted.", "success")
    if post.kind == "reply" and post.thread_id:
        return redirect(url_for("community.thread", thread_id=post.thread_id))
    return redirect(url_for("community.index"))
