"""KB management pages: article list, editor with preview, publish/unpublish, delete, categories, feedback."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select

from core.api.paging import id_in
from core.app_state import state
from core.kb import attachments, editor
from core.kb import feedback as fb
from core.kb.markdown import render_body
from core.kb.models import KbArticle
from core.kb.service import (
    KbError,
    category_tree,
    create_category,
    delete_article,
    delete_category,
    save_article,
    set_published,
)
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required

bp = Blueprint("kb_manage", __name__, url_prefix="/manage/kb")


def _checked_form() -> None:
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")


@bp.get("/")
@login_required(Role.AGENT)
def articles() -> ResponseReturnValue:
    """Every article (drafts too) with feedback counts, and the categories."""
    st = state()
    with st.db.session() as s:
        rows = list(s.scalars(select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())))
        tree = category_tree(s)
    names = {c.id: c.name for c, _ in tree}
    return render_template("manage/kb.html", articles=rows, tree=tree, names=names, counts=fb.counts(st),
                           form=PostForm())


def _category_arg(raw: str | None) -> int | None:
    return id_in(raw or "")


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
@login_required(Role.AGENT)
def edit(article_id: int | None = None) -> ResponseReturnValue:
    """The editor: Markdown (live preview) or sanitized HTML, images into the body, draft or published."""
    st = state()
    form = PostForm()
    errors: dict[str, str] = {}
    preview: Markup | None = None
    with st.db.session() as s:
        article = s.get(KbArticle, article_id) if article_id else None
        if article_id and article is None:
            abort(404)
        tree = category_tree(s)
    values = editor.stored_values(article)
    if request.method == "POST":
        _checked_form()
        values = editor.posted_values(request.form, _category_arg(request.form.get("category_id")))
        action = request.form.get("action")
        if action == "preview":
            preview = Markup(render_body(values["body"], values["format"]))
        else:
            user = current_user()
            try:
                saved = save_article(st, article_id=article_id, author_id=user.id if user else None,
                                     **editor.save_arguments(values))
                if action == "image":
                    return _add_images(saved)
                if request.files and attachments.available(st):
                    attachments.save_files(request, attachments.KB_OWNER, saved.id, user.role if user else Role.AGENT)
            except KbError as exc:
                errors[exc.field] = exc.message
            except attachments.UploadRejected as exc:  # the article is saved, the file is not
                flash(f"Saved, but a file was refused: {exc.message}", "error")
                return redirect(url_for("kb_manage.edit", article_id=saved.id))
            else:
                flash(f"Saved “{saved.title}” ({'published' if saved.published else 'draft'}).", "success")
                return redirect(url_for("kb_manage.edit", article_id=saved.id))
    files = attachments.list_files(st, attachments.KB_OWNER, article.id) if article else []
    return render_template("manage/kb_edit.html", article=article, values=values, tree=tree, errors=errors,
                           preview=preview, form=form, files=files, uploads=attachments.available(st)), \
        400 if errors else 200


def _add_images(saved: KbArticle) -> ResponseReturnValue:
    """After saving: store the chosen images, put them in the body at the cursor, back to the editor."""
    user = current_user()
    try:
        added = editor.add_images(state(), request, saved, user.role if user else Role.AGENT,
                                  request.form.get("cursor", ""))
    except (KbError, attachments.UploadRejected) as exc:
        flash(f"Saved, but no image was added: {exc.message}", "error")
    else:
        flash(f"Saved, and added {added} image{'s' if added != 1 else ''} to the body.", "success")
    return redirect(url_for("kb_manage.edit", article_id=saved.id) + "#body")


@bp.post("/preview")
@login_required(Role.AGENT)
def live_preview() -> ResponseReturnValue:
    """``{"html": ...}``: the body rendered and sanitized exactly as saving would (the editor's live preview)."""
    _checked_form()
    body_format = request.form.get("format", "markdown")
    return jsonify({"html": render_body(request.form.get("body", ""), body_format)})


@bp.post("/<int:article_id>/publish")
@login_required(Role.AGENT)
def publish(article_id: int) -> ResponseReturnValue:
    """Publish (``publish=1``) or unpublish (``publish=0``)."""
    _checked_form()
    article = set_published(state(), article_id, request.form.get("publish", "1") == "1")
    if article is None:
        abort(404)
    flash(f"“{article.title}” is now {'published' if article.published else 'a draft'}.", "success")
    return redirect(request.form.get("back") == "edit" and url_for("kb_manage.edit", article_id=article_id)
                    or url_for("kb_manage.articles"))


@bp.post("/<int:article_id>/delete")
@login_required(Role.AGENT)
def delete(article_id: int) -> ResponseReturnValue:
    """Delete an article with its feedback and file references."""
    _checked_form()
    if not delete_article(state(), article_id):
        abort(404)
    flash("The article was deleted.", "success")
    return redirect(url_for("kb_manage.articles"))


@bp.get("/<int:article_id>/feedback")
@login_required(Role.AGENT)
def feedback(article_id: int) -> ResponseReturnValue:
    """Yes/no counts and every comment of one article."""
    st = state()
    with st.db.session() as s:
        article = s.get(KbArticle, article_id)
        if article is None:
            abort(404)
    return render_template("manage/kb_feedback.html", article=article, summary=fb.summary(st, article_id))


@bp.post("/categories")
@login_required(Role.AGENT)
def add_category() -> ResponseReturnValue:
    """Create a category (optionally below another)."""
    _checked_form()
    try:
        cat = create_category(state(), request.form.get("name", ""), _category_arg(request.form.get("parent_id")))
    except KbError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Category “{cat.name}” created.", "success")
    return redirect(url_for("kb_manage.articles"))


@bp.post("/categories/<int:category_id>/delete")
@login_required(Role.AGENT)
def remove_category(category_id: int) -> ResponseReturnValue:
    """Delete a category; its articles and subcategories move to its parent."""
    _checked_form()
    if not delete_category(state(), category_id):
        abort(404)
    flash("Category deleted; its articles and subcategories moved up.", "success")
    return redirect(url_for("kb_manage.articles"))
