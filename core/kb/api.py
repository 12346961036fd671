"""KB routes of the JSON API (``/api/v1/kb/...``), documented in the OpenAPI document."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import Field
from sqlalchemy import select

from core.api.paging import page_query
from core.api.registry import ApiModel, ApiProblem, api_route
from core.app_state import state
from core.auth.sessions import token_user
from core.kb import feedback as fb
from core.kb.models import KbArticle
from core.kb.service import (
    KbError,
    article_json,
    can_edit,
    category_tree,
    create_category,
    delete_article,
    list_articles,
    runtime,
    save_article,
    visible_article,
)
from core.models import User
from core.schema import Id, explain
from core.types import Role
from core.web.helpers import request_info

bp = Blueprint("kb_api", __name__, url_prefix="/api/v1")
TAGS = ["kb"]

ARTICLE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "title": {"type": "string"}, "slug": {"type": "string"},
    "body_html": {"type": "string"}, "published": {"type": "boolean"},
    "published_at": {"type": ["string", "null"], "format": "date-time"},
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "category_id": {"type": ["integer", "null"]}, "url": {"type": "string"}},
    "required": ["id", "title", "body_html", "published_at", "url"]}
ARTICLE_LIST = {"type": "object", "properties": {"items": {"type": "array", "items": ARTICLE},
                                                 "total": {"type": "integer"}}, "required": ["items", "total"]}
FEEDBACK_OUT = {"type": "object", "properties": {"status": {"type": "string"}, "message": {"type": "string"}}}
SUMMARY = {"type": "object", "properties": {"helpful": {"type": "integer"}, "not_helpful": {"type": "integer"},
                                            "comments": {"type": "array", "items": {"type": "object"}}}}
CATEGORY = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                             "parent_id": {"type": ["integer", "null"]}, "depth": {"type": "integer"}}}


class ArticlePatchIn(ApiModel):
    """``PATCH /kb/articles/{id}``: only the fields sent change; ``category_id: null`` removes the category."""

    title: str | None = None
    body_html: str | None = None
    category_id: Id | None = None
    published: bool | None = None


class ArticleIn(ArticlePatchIn):
    """``POST /kb/articles``; ``body_html`` is sanitized."""

    title: str  # type: ignore[assignment]
    body_html: str = ""
    published: bool = False


class FeedbackIn(ApiModel):
    """``POST /kb/articles/{id}/feedback``: "Was this helpful?" and an optional comment."""

    helpful: Annotated[bool, explain("Choose yes or no.")]
    comment: Annotated[str | None, Field(max_length=fb.MAX_COMMENT),
                       explain(f"Please keep the comment under {fb.MAX_COMMENT} characters.")] = None


class CategoryIn(ApiModel):
    """``POST /kb/categories``."""

    name: str
    parent_id: Id | None = None


class ArticleListQuery(page_query(25, 100)):  # type: ignore[misc]
    """``GET /kb/articles``: paging, ``q`` (full-text search) and ``drafts=1`` (KB editors only)."""

    q: Annotated[str, Field(max_length=200, description="Search words")] = ""
    drafts: Annotated[str, Field(description="1: include drafts (KB editors)")] = ""


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem) -> ResponseReturnValue:
    """Problem details (title, detail, errors) for this blueprint's API errors."""
    return exc.get_response()


def optional_user() -> User | None:
    """The bearer token's user on public routes (``None`` when absent or invalid)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token_user(state().db, token.strip()) if scheme.lower() == "bearer" and token.strip() else None


@api_route(bp, "/kb/articles", "GET", summary="List KB articles (newest first; ?q= searches)", auth=None,
           tags=TAGS, query=ArticleListQuery,
           responses={200: ("One page of articles", ARTICLE_LIST), 400: ("Bad request", None)})
def list_route(query: ArticleListQuery) -> ResponseReturnValue:
    """Published articles (KB editors with a token also see drafts); ``limit``, ``offset``, ``q``."""
    st = state()
    user = optional_user()
    drafts = can_edit(user) and query.drafts == "1"
    q = query.q.strip()
    with st.db.session() as s:
        if q:
            hits = runtime(st).search.search(s, q, published_only=not drafts, limit=query.limit,
                                             offset=query.offset)
            by_id = {a.id: a for a in s.scalars(select(KbArticle).where(KbArticle.id.in_(hits.ids)))}
            items, total = [by_id[i] for i in hits.ids if i in by_id], hits.total
        else:
            items, total = list_articles(s, published_only=not drafts, limit=query.limit, offset=query.offset)
        return jsonify({"items": [article_json(st, a) for a in items], "total": total})


@api_route(bp, "/kb/articles/<int:article_id>", "GET", summary="One KB article", auth=None, tags=TAGS,
           responses={200: ("The article", ARTICLE), 404: ("No such (published) article", None)})
def get_route(article_id: int) -> ResponseReturnValue:
    """A published article (drafts for KB editors)."""
    st = state()
    with st.db.session() as s:
        article = visible_article(s, article_id, optional_user())
        if article is None:
            raise ApiProblem(404, "Not found", "No such article.")
        return jsonify(article_json(st, article))


@api_route(bp, "/kb/articles", "POST", summary="Create a KB article (sanitized)", auth=Role.AGENT, tags=TAGS,
           body=ArticleIn, responses={201: ("Created", ARTICLE), 422: ("Validation failed", None),
                                      403: ("Forbidden", None)})
def create_route(body: ArticleIn) -> ResponseReturnValue:
    """Create an article; ``body_html`` is sanitized."""
    try:
        article = save_article(state(), title=body.title, body_html=body.body_html or "",
                               category_id=body.category_id, published=bool(body.published),
                               author_id=g.api_user.id)
    except KbError as exc:
        raise ApiProblem(422, "Validation failed", exc.message, {exc.field: exc.message}) from None
    return jsonify(article_json(state(), article)), 201


@api_route(bp, "/kb/articles/<int:article_id>", "PATCH", summary="Change a KB article", auth=Role.AGENT, tags=TAGS,
           body=ArticlePatchIn, responses={200: ("Changed", ARTICLE), 404: ("Not found", None),
                                           422: ("Validation failed", None), 403: ("Forbidden", None)})
def patch_route(article_id: int, body: ArticlePatchIn) -> ResponseReturnValue:
    """Change any of title, body_html, category_id, published."""
    data = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "category_id"}
    st = state()
    with st.db.session() as s:
        article = s.get(KbArticle, article_id)
        if article is None:
            raise ApiProblem(404, "Not found", "No such article.")
        current = {"title": article.title, "body_html": article.body_html, "category_id": article.category_id,
                   "published": article.published}
    try:
        saved = save_article(st, article_id=article_id, **{**current, **{k: data[k] for k in current if k in data}})
    except KbError as exc:
        raise ApiProblem(422, "Validation failed", exc.message, {exc.field: exc.message}) from None
    return jsonify(article_json(st, saved))


@api_route(bp, "/kb/articles/<int:article_id>", "DELETE", summary="Delete a KB article", auth=Role.AGENT, tags=TAGS,
           responses={204: ("Deleted (feedback and file references too)", None), 404: ("Not found", None),
                      403: ("Forbidden", None)})
def delete_route(article_id: int) -> ResponseReturnValue:
    """Delete an article and drop its file references."""
    if not delete_article(state(), article_id):
        raise ApiProblem(404, "Not found", "No such article.")
    return "", 204


@api_route(bp, "/kb/articles/<int:article_id>/feedback", "POST", summary="Was this article helpful?", auth=None,
           tags=TAGS, body=FeedbackIn,
           responses={201: ("Thank you", FEEDBACK_OUT), 403: ("Refused for this address (IP blacklist)", None),
                      404: ("Not found", None), 409: ("Already rated", None), 422: ("Validation failed", None),
                      429: ("Too much feedback from this address", None)})
def feedback_route(article_id: int, body: FeedbackIn) -> ResponseReturnValue:
    """One vote per user (bearer token) or, anonymously, per client address; rate limited."""
    user = optional_user()
    addr = request_info().remote_addr
    voter = fb.user_voter(user.id) if user else "a:" + hashlib.sha256(addr.encode()).hexdigest()
    outcome = fb.record_feedback(state(), article_id=article_id, voter=voter, user=user,
                                 helpful=body.helpful, comment=body.comment, remote_addr=addr)
    if not outcome.ok:
        errors = {"helpful": outcome.message} if outcome.status == "invalid" else None
        title = {"refused": "Feedback refused", "rate_limited": "Too many requests", "duplicate": "Already rated",
                 "not_found": "Not found", "invalid": "Validation failed"}[outcome.status]
        raise ApiProblem(outcome.http_status, title, outcome.message, errors)
    return jsonify({"status": "ok", "message": outcome.message}), 201


@api_route(bp, "/kb/articles/<int:article_id>/feedback", "GET", summary="Feedback counts and comments",
           auth=Role.AGENT, tags=TAGS, responses={200: ("Counts and comments", SUMMARY), 404: ("Not found", None),
                                               403: ("Forbidden", None)})
def feedback_summary_route(article_id: int) -> ResponseReturnValue:
    """What admins see: yes/no counts and the comments."""
    st = state()
    with st.db.session() as s:
        if s.get(KbArticle, article_id) is None:
            raise ApiProblem(404, "Not found", "No such article.")
    summary = fb.summary(st, article_id)
    comments: list[dict[str, Any]] = [{**c, "created_at": c["created_at"].isoformat().replace("+00:00", "Z")}
                                      for c in summary.comments]
    return jsonify({"helpful": summary.helpful, "not_helpful": summary.not_helpful, "comments": comments})


@api_route(bp, "/kb/categories", "GET", summary="KB categories (tree order)", auth=None, tags=TAGS,
           responses={200: ("Categories", {"type": "object", "properties": {
               "items": {"type": "array", "items": CATEGORY}, "total": {"type": "integer"}}})})
def categories_route() -> ResponseReturnValue:
    """Every category with its parent and depth."""
    with state().db.session() as s:
        items = [{"id": c.id, "name": c.name, "parent_id": c.parent_id, "depth": d} for c, d in category_tree(s)]
    return jsonify({"items": items, "total": len(items)})


@api_route(bp, "/kb/categories", "POST", summary="Create a KB category", auth=Role.AGENT, tags=TAGS,
           body=CategoryIn,
           responses={201: ("Created", CATEGORY), 422: ("Validation failed", None), 403: ("Forbidden", None)})
def create_category_route(body: CategoryIn) -> ResponseReturnValue:
    """Create a category, optionally below ``parent_id``."""
    try:
        cat = create_category(state(), body.name, body.parent_id)
    except KbError as exc:
        raise ApiProblem(422, "Validation failed", exc.message, {exc.field: exc.message}) from None
    return jsonify({"id": cat.id, "name": cat.name, "parent_id": cat.parent_id}), 201
