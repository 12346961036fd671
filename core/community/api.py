"""Community and moderation routes of the JSON API, documented in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue
from pydantic import AliasChoices, ConfigDict, Field

from core.api.paging import page_query
from core.api.registry import ApiModel, ApiProblem, api_route
from core.app_state import state
from core.captcha import check_captcha
from core.community.models import CommunityPost
from core.community.service import (
    CommunityError,
    can_see,
    create_reply,
    create_thread,
    decide,
    delete_post,
    edit_post,
    list_threads,
    names,
    post_json,
    queue,
    replies,
)
from core.kb.api import optional_user
from core.schema import Id
from core.types import PostStatus, Role
from core.users import to_info
from core.web.helpers import request_info

bp = Blueprint("community_api", __name__, url_prefix="/api/v1")

POST = {"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["thread", "reply"]},
    "title": {"type": "string"}, "body_html": {"type": "string"},
    "status": {"type": "string", "enum": [s.value for s in PostStatus]},
    "thread_id": {"type": "integer"}, "category_id": {"type": ["integer", "null"]},
    "author_id": {"type": ["integer", "null"]}, "created_at": {"type": "string", "format": "date-time"},
    "moderator_message": {"type": "string"},
    "reasons": {"type": "array", "items": {"type": "object", "properties": {
        "plugin": {"type": "string"}, "reason": {"type": "string"}}}}},
    "required": ["id", "body_html", "status"]}
POST_LIST = {"type": "object", "properties": {"items": {"type": "array", "items": POST},
                                              "total": {"type": "integer"}}, "required": ["items", "total"]}
#: ``body`` is accepted for ``body_html`` (what the portal form calls it).
BodyHtml = Annotated[str, Field(validation_alias=AliasChoices("body_html", "body"))]


class ReplyIn(ApiModel):
    """``POST /community/threads/{id}/replies``: sanitized HTML."""

    body_html: BodyHtml


class ThreadIn(ReplyIn):
    """``POST /community/threads``; the captcha's fields (e.g. ``captcha_answer``) travel alongside."""

    model_config = ConfigDict(extra="allow")
    title: str
    category_id: Id | None = None
    captcha_answer: Annotated[str | None, Field(description="captcha fields when the captcha applies")] = None


class PostEditIn(ReplyIn):
    """``PATCH /community/posts/{id}``: new body, and a new title for threads."""

    title: str | None = None


class DecisionIn(ApiModel):
    """``POST /moderation/{id}/approve|reject``: an optional message emailed to the author."""

    empty_ok = True
    message: str = ""


class ThreadListQuery(page_query(25, 100)):  # type: ignore[misc]
    """``GET /community/threads``: one page of threads."""


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem) -> ResponseReturnValue:
    """Problem details (title, detail, errors) for this blueprint's API errors."""
    return exc.get_response()


def _problem(exc: CommunityError) -> ApiProblem:
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Validation failed"}
    return ApiProblem(exc.status, titles.get(exc.status, "Refused"), exc.message,
                      {exc.field: exc.message} if exc.status == 422 else None)


@api_route(bp, "/community/threads", "GET", summary="Community threads the caller may see", auth=None,
           tags=["community"], query=ThreadListQuery, responses={200: ("Threads, newest first", POST_LIST)})
def threads_route(query: ThreadListQuery) -> ResponseReturnValue:
    """Published threads (plus the caller's own pending ones; moderators see all)."""
    user = optional_user()
    with state().db.session() as s:
        items, total = list_threads(s, user, limit=query.limit, offset=query.offset)
        return jsonify({"items": [post_json(p) for p in items], "total": total})


@api_route(bp, "/community/threads/<int:thread_id>", "GET", summary="A thread with its replies", auth=None,
           tags=["community"], responses={200: ("The thread; replies in `replies`", POST), 404: ("Not found", None)})
def thread_route(thread_id: int) -> ResponseReturnValue:
    """A thread and the replies the caller may see."""
    user = optional_user()
    with state().db.session() as s:
        post = s.get(CommunityPost, thread_id)
        if post is None or post.kind != "thread" or not can_see(post, user):
            raise ApiProblem(404, "Not found", "No such thread.")
        return jsonify({**post_json(post), "replies": [post_json(r) for r in replies(s, thread_id, user)]})


@api_route(bp, "/community/threads", "POST", summary="Start a thread (moderated; captcha if unverified)",
           tags=["community"], body=ThreadIn,
           responses={201: ("Created; `status` tells whether it is published or pending", POST),
                      400: ("Bad request", None), 422: ("Validation failed (or captcha)", None)})
def create_thread_route(body: ThreadIn) -> ResponseReturnValue:
    """Moderation plugins decide the status; users whose email is not verified answer the captcha."""
    st = state()
    fields = {k: str(v) for k, v in body.model_dump().items() if v is not None}
    verdict = check_captcha(st, fields, "community_thread", request_info().remote_addr, to_info(g.api_user))
    if not verdict.ok:
        raise ApiProblem(422, "Validation failed", verdict.message, {"captcha": verdict.message})
    try:
        post = create_thread(st, g.api_user, body.title, body.body_html, body.category_id)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post)), 201


@api_route(bp, "/community/threads/<int:thread_id>/replies", "POST", summary="Reply to a thread (moderated)",
           tags=["community"], body=ReplyIn,
           responses={201: ("Created", POST), 404: ("Not found", None), 409: ("Thread rejected", None),
                      422: ("Validation failed", None)})
def create_reply_route(thread_id: int, body: ReplyIn) -> ResponseReturnValue:
    """Reply; moderation plugins decide the status."""
    try:
        post = create_reply(state(), g.api_user, thread_id, body.body_html)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post)), 201


@api_route(bp, "/community/posts/<int:post_id>", "PATCH", summary="Edit a post (edit window; re-moderated)",
           tags=["community"], body=PostEditIn,
           responses={200: ("Changed", POST), 403: ("Edit window over", None), 404: ("Not found", None),
                      422: ("Validation failed", None)})
def edit_route(post_id: int, body: PostEditIn) -> ResponseReturnValue:
    """Authors within the edit window, moderators always."""
    try:
        post = edit_post(state(), g.api_user, post_id, body.body_html, body.title)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post))


@api_route(bp, "/community/posts/<int:post_id>", "DELETE", summary="Delete a post (author or moderator)",
           tags=["community"], responses={204: ("Deleted, file references dropped", None),
                                          403: ("Forbidden", None), 404: ("Not found", None)})
def delete_route(post_id: int) -> ResponseReturnValue:
    """A thread goes with its replies."""
    try:
        delete_post(state(), g.api_user, post_id)
    except CommunityError as exc:
        raise _problem(exc) from None
    return "", 204


@api_route(bp, "/moderation/queue", "GET", summary="Posts waiting for moderation, with every plugin's reason",
           auth=Role.AGENT, tags=["moderation"], responses={200: ("Pending posts, oldest first", POST_LIST),
                                                         403: ("Forbidden", None)})
def queue_route() -> ResponseReturnValue:
    """Each item carries ``reasons`` (plugin, reason) and ``author``."""
    with state().db.session() as s:
        posts = queue(s)
        authors = names(s, {p.author_id for p in posts})
        items = [{**post_json(p, with_reasons=True), "author": authors.get(p.author_id or 0, "")} for p in posts]
    return jsonify({"items": items, "total": len(items)})


def _decide(post_id: int, approve: bool, body: DecisionIn) -> ResponseReturnValue:
    try:
        post = decide(state(), g.api_user, post_id, approve, body.message)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post, with_reasons=True))


@api_route(bp, "/moderation/<int:post_id>/approve", "POST", summary="Approve (publish) a pending post",
           auth=Role.AGENT, tags=["moderation"], body=DecisionIn,
           responses={200: ("Published", POST), 404: ("Not found", None), 409: ("Not pending", None),
                      403: ("Forbidden", None)})
def approve_route(post_id: int, body: DecisionIn) -> ResponseReturnValue:
    """Optional ``message`` is emailed to the author."""
    return _decide(post_id, True, body)


@api_route(bp, "/moderation/<int:post_id>/reject", "POST", summary="Reject a pending post",
           auth=Role.AGENT, tags=["moderation"], body=DecisionIn,
           responses={200: ("Rejected; file references dropped", POST), 404: ("Not found", None),
                      409: ("Not pending", None), 403: ("Forbidden", None)})
def reject_route(post_id: int, body: DecisionIn) -> ResponseReturnValue:
    """Optional ``message`` is emailed to the author."""
    return _decide(post_id, False, body)
