"""Community and moderation routes of the JSON API, documented in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from core.api.registry import ApiProblem, api_route
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
from core.users import to_info
from core.web.helpers import request_info

bp = Blueprint("community_api", __name__, url_prefix="/api/v1")

POST = {"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["thread", "reply"]},
    "title": {"type": "string"}, "body_html": {"type": "string"},
    "status": {"type": "string", "enum": ["published", "pending", "rejected"]},
    "thread_id": {"type": "integer"}, "category_id": {"type": ["integer", "null"]},
    "author_id": {"type": ["integer", "null"]}, "created_at": {"type": "string", "format": "date-time"},
    "moderator_message": {"type": "string"},
    "reasons": {"type": "array", "items": {"type": "object", "properties": {
        "plugin": {"type": "string"}, "reason": {"type": "string"}}}}},
    "required": ["id", "body_html", "status"]}
POST_LIST = {"type": "object", "properties": {"items": {"type": "array", "items": POST},
                                              "total": {"type": "integer"}}, "required": ["items", "total"]}
THREAD_IN = {"type": "object", "properties": {
    "title": {"type": "string"}, "body_html": {"type": "string"}, "category_id": {"type": ["integer", "null"]},
    "captcha_answer": {"type": "string", "description": "captcha fields when the captcha applies"}},
    "required": ["title", "body_html"]}
REPLY_IN = {"type": "object", "properties": {"body_html": {"type": "string"}}, "required": ["body_html"]}
DECISION_IN = {"type": "object", "properties": {"message": {"type": "string"}}}


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem) -> ResponseReturnValue:
    """Problem details (title, detail, errors) for this blueprint's API errors."""
    return exc.get_response()


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and not request.get_data():
        return {}
    if not isinstance(data, dict):
        raise ApiProblem(400, "Bad request", "Send a JSON object with Content-Type: application/json.")
    return data


def _text(data: dict[str, Any], name: str, required: bool = True) -> str:
    value = data.get(name, data.get("body") if name == "body_html" else None)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiProblem(422, "Validation failed", f"{name} must be a string.", {name: "Expected string."})
    return value


def _problem(exc: CommunityError) -> ApiProblem:
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Validation failed"}
    return ApiProblem(exc.status, titles.get(exc.status, "Refused"), exc.message,
                      {exc.field: exc.message} if exc.status == 422 else None)


@api_route(bp, "/community/threads", "GET", summary="Community threads the caller may see", auth=None,
           tags=["community"], responses={200: ("Threads, newest first", POST_LIST)})
def threads_route() -> ResponseReturnValue:
    """Published threads (plus the caller's own pending ones; moderators see all)."""
    user = optional_user()
    try:
        limit = max(1, min(100, int(request.args.get("limit", 25))))
        offset = max(0, int(request.args.get("offset", 0)))
    except ValueError:
        raise ApiProblem(400, "Bad request", "limit and offset must be whole numbers.") from None
    with state().db.session() as s:
        items, total = list_threads(s, user, limit=limit, offset=offset)
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
           tags=["community"], request_schema=THREAD_IN,
           responses={201: ("Created; `status` tells whether it is published or pending", POST),
                      400: ("Bad request", None), 422: ("Validation failed (or captcha)", None)})
def create_thread_route() -> ResponseReturnValue:
    """Moderation plugins decide the status; users whose email is not verified answer the captcha."""
    st = state()
    data = _body()
    title, body = _text(data, "title"), _text(data, "body_html")
    category_id = data.get("category_id")
    if category_id is not None and (isinstance(category_id, bool) or not isinstance(category_id, int)):
        raise ApiProblem(422, "Validation failed", "category_id must be an integer.", {"category_id": "integer"})
    verdict = check_captcha(st, {k: str(v) for k, v in data.items()}, "community_thread",
                            request_info().remote_addr, to_info(g.api_user))
    if not verdict.ok:
        raise ApiProblem(422, "Validation failed", verdict.message, {"captcha": verdict.message})
    try:
        post = create_thread(st, g.api_user, title, body, category_id)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post)), 201


@api_route(bp, "/community/threads/<int:thread_id>/replies", "POST", summary="Reply to a thread (moderated)",
           tags=["community"], request_schema=REPLY_IN,
           responses={201: ("Created", POST), 404: ("Not found", None), 409: ("Thread rejected", None),
                      422: ("Validation failed", None)})
def create_reply_route(thread_id: int) -> ResponseReturnValue:
    """Reply; moderation plugins decide the status."""
    try:
        post = create_reply(state(), g.api_user, thread_id, _text(_body(), "body_html"))
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post)), 201


@api_route(bp, "/community/posts/<int:post_id>", "PATCH", summary="Edit a post (edit window; re-moderated)",
           tags=["community"], request_schema={"type": "object", "properties": {
               "title": {"type": "string"}, "body_html": {"type": "string"}}, "required": ["body_html"]},
           responses={200: ("Changed", POST), 403: ("Edit window over", None), 404: ("Not found", None),
                      422: ("Validation failed", None)})
def edit_route(post_id: int) -> ResponseReturnValue:
    """Authors within the edit window, moderators always."""
    data = _body()
    title = data.get("title") if isinstance(data.get("title"), str) else None
    try:
        post = edit_post(state(), g.api_user, post_id, _text(data, "body_html"), title)
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
           auth="agent", tags=["moderation"], responses={200: ("Pending posts, oldest first", POST_LIST),
                                                         403: ("Forbidden", None)})
def queue_route() -> ResponseReturnValue:
    """Each item carries ``reasons`` (plugin, reason) and ``author``."""
    with state().db.session() as s:
        posts = queue(s)
        authors = names(s, {p.author_id for p in posts})
        items = [{**post_json(p, with_reasons=True), "author": authors.get(p.author_id or 0, "")} for p in posts]
    return jsonify({"items": items, "total": len(items)})


def _decide(post_id: int, approve: bool) -> ResponseReturnValue:
    data = _body()
    message = data.get("message", "")
    if not isinstance(message, str):
        raise ApiProblem(422, "Validation failed", "message must be a string.", {"message": "Expected string."})
    try:
        post = decide(state(), g.api_user, post_id, approve, message)
    except CommunityError as exc:
        raise _problem(exc) from None
    return jsonify(post_json(post, with_reasons=True))


@api_route(bp, "/moderation/<int:post_id>/approve", "POST", summary="Approve (publish) a pending post",
           auth="agent", tags=["moderation"], request_schema=DECISION_IN,
           responses={200: ("Published", POST), 404: ("Not found", None), 409: ("Not pending", None),
                      403: ("Forbidden", None)})
def approve_route(post_id: int) -> ResponseReturnValue:
    """Optional ``message`` is emailed to the author."""
    return _decide(post_id, True)


@api_route(bp, "/moderation/<int:post_id>/reject", "POST", summary="Reject a pending post",
           auth="agent", tags=["moderation"], request_schema=DECISION_IN,
           responses={200: ("Rejected; file references dropped", POST), 404: ("Not found", None),
                      409: ("Not pending", None), 403: ("Forbidden", None)})
def reject_route(post_id: int) -> ResponseReturnValue:
    """Optional ``message`` is emailed to the author."""
    return _decide(post_id, False)
