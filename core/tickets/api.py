"""Ticket and department API routes under ``/api/v1`` (bearer tokens, problem+json, OpenAPI)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from core.api.registry import ApiProblem, api_route, json_body
from core.app_state import state
from core.tickets import service
from core.tickets.departments import DepartmentInvalid, department_json, save_department
from core.tickets.models import Ticket
from core.web.helpers import request_info

bp = Blueprint("tickets_api", __name__, url_prefix="/api/v1")

_TS = {"type": ["string", "null"], "format": "date-time"}
ATTACHMENT = {"type": "object", "properties": {"id": {"type": "integer"}, "filename": {"type": "string"},
                                               "size": {"type": "integer"}, "content_type": {"type": "string"},
                                               "sha256": {"type": "string"}}}
MESSAGE = {"type": "object", "properties": {"id": {"type": "integer"}, "body": {"type": "string"},
                                            "author": {"type": "string"}, "from_agent": {"type": "boolean"},
                                            "internal": {"type": "boolean"}, "created_at": _TS,
                                            "attachments": {"type": "array", "items": ATTACHMENT}},
           "required": ["id", "body", "attachments"]}
TICKET = {"type": "object", "properties": {
    "id": {"type": "integer"}, "subject": {"type": "string"}, "department_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["open", "waiting", "closed"]}, "locked": {"type": "boolean"},
    "assignee_id": {"type": ["integer", "null"]}, "created_at": _TS, "last_customer_reply_at": _TS,
    "last_agent_reply_at": _TS, "closed_at": _TS, "locked_at": _TS,
    "messages": {"type": "array", "items": MESSAGE}},
    "required": ["id", "subject", "department_id", "status", "locked", "messages"]}
NEW_TICKET = {"type": "object", "properties": {
    "subject": {"type": "string"}, "department_id": {"type": "integer"}, "body": {"type": "string"},
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    "required": ["subject", "department_id", "body"]}
NEW_MESSAGE = {"type": "object", "properties": {
    "body": {"type": "string"}, "internal": {"type": "boolean"},
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}, "required": ["body"]}
TICKET_PATCH = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["open", "waiting", "closed"]}, "department_id": {"type": "integer"},
    "assignee_id": {"type": ["integer", "null"]}}}
_DAYS = {"type": ["integer", "null"], "minimum": 1, "maximum": 36500}
DEPARTMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "description": {"type": "string"},
    "public": {"type": "boolean"}, "auto_close_days": _DAYS, "lock_after_days": _DAYS, "delete_after_days": _DAYS,
    "agent_ids": {"type": "array", "items": {"type": "integer"}}},
    "required": ["id", "name", "auto_close_days", "lock_after_days", "delete_after_days"]}
DEPARTMENT_IN = {"type": "object", "properties": {k: v for k, v in DEPARTMENT["properties"].items() if k != "id"}}
BOTH = ("application/json", "multipart/form-data")


@bp.errorhandler(ApiProblem)
def _problem(exc: ApiProblem) -> ResponseReturnValue:
    return exc.get_response()


def _fail(exc: service.TicketProblem) -> ApiProblem:
    titles = {403: "Forbidden", 404: "Not found", 422: "Validation failed"}
    errors = {exc.field: exc.message} if exc.field and exc.status == 422 else None
    return ApiProblem(exc.status, titles.get(exc.status, "Refused"), exc.message, errors)


def _payload(required: dict[str, type], optional: dict[str, type]) -> tuple[dict[str, Any], list[Any]]:
    """JSON body, or multipart form fields plus ``files``."""
    if request.mimetype == "multipart/form-data":
        data: dict[str, Any] = {k: v for k, v in request.form.items()}
        errors = {k: "This field is required." for k in required if k not in data}
        for key, kind in {**required, **optional}.items():
            if key in data and kind is int:
                try:
                    data[key] = int(data[key])
                except ValueError:
                    errors[key] = "Expected int."
            elif key in data and kind is bool:
                data[key] = data[key].lower() in ("1", "true", "on", "yes")
        if errors:
            raise ApiProblem(422, "Validation failed", "Some fields are missing or have the wrong type.", errors)
        return data, request.files.getlist("files")
    return json_body(required, optional), []


@api_route(bp, "/tickets", "POST", summary="Open a ticket (JSON, or multipart with files)", request_schema=NEW_TICKET,
           content_types=BOTH, tags=["tickets"],
           responses={201: ("The new ticket", TICKET), 403: ("Agents-only department", None),
                      422: ("Validation failed", None)})
def create_ticket() -> ResponseReturnValue:
    """Open a ticket in a public department (agents also in their own departments)."""
    data, files = _payload({"subject": str, "department_id": int, "body": str}, {})
    st = state()
    try:
        ticket_id = service.create_ticket(st, user=g.api_user, department_id=data["department_id"],
                                          subject=data["subject"], body=data["body"], uploads=files)
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get(Ticket, ticket_id), g.api_user)), 201


@api_route(bp, "/tickets", "GET", summary="Tickets the caller may see", tags=["tickets"],
           responses={200: ("Tickets, newest first", {"type": "object"})})
def list_tickets() -> ResponseReturnValue:
    """Customers: their own tickets; agents: their departments' tickets. Filters: status, department_id."""
    st = state()
    with st.db.session() as s:
        stmt = select(Ticket)
        depts = service.staff_departments(s, g.api_user)
        if not service.is_staff(g.api_user):
            stmt = stmt.where(Ticket.customer_id == g.api_user.id)
        elif depts is not None:
            stmt = stmt.where(Ticket.department_id.in_(depts) | (Ticket.customer_id == g.api_user.id))
        if request.args.get("status") in ("open", "waiting", "closed"):
            stmt = stmt.where(Ticket.status == request.args["status"])
        if request.args.get("department_id", type=int):
            stmt = stmt.where(Ticket.department_id == request.args.get("department_id", type=int))
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.scalars(stmt.order_by(Ticket.id.desc()).limit(min(request.args.get("limit", 50, type=int), 500)))
        items = [{"id": t.id, "subject": t.subject, "department_id": t.department_id, "status": t.status,
                  "locked": t.locked, "updated_at": service.iso(t.updated_at)} for t in rows]
    return jsonify({"items": items, "total": total})


@api_route(bp, "/tickets/<int:ticket_id>", "GET", summary="A ticket with its messages", tags=["tickets"],
           responses={200: ("The ticket", TICKET), 404: ("No such ticket, or not yours", None)})
def get_ticket(ticket_id: int) -> ResponseReturnValue:
    """Customers see their own tickets without internal notes; agents their departments' tickets."""
    with state().db.session() as s:
        try:
            ticket = service.visible_ticket(s, g.api_user, ticket_id)
        except service.TicketProblem as exc:
            raise _fail(exc) from None
        return jsonify(service.ticket_json(s, ticket, g.api_user))


@api_route(bp, "/tickets/<int:ticket_id>/messages", "POST", summary="Reply to a ticket (or add an internal note)",
           request_schema=NEW_MESSAGE, content_types=BOTH, tags=["tickets"],
           responses={201: ("The ticket after the reply", TICKET), 403: ("Locked, or not allowed", None),
                      404: ("No such ticket, or not yours", None), 422: ("Validation failed", None)})
def post_message(ticket_id: int) -> ResponseReturnValue:
    """A reply; ``internal: true`` adds a note only agents see. Locked tickets answer 403 with the reason."""
    data, files = _payload({"body": str}, {"internal": bool})
    st = state()
    try:
        service.reply(st, ticket_id, g.api_user, data["body"], internal=bool(data.get("internal")), uploads=files)
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get(Ticket, ticket_id), g.api_user)), 201


@api_route(bp, "/tickets/<int:ticket_id>", "PATCH", summary="Change status, department or assignee",
           request_schema=TICKET_PATCH, tags=["tickets"],
           responses={200: ("The ticket", TICKET), 403: ("Not allowed", None), 404: ("No such ticket", None),
                      422: ("Validation failed", None)})
def patch_ticket(ticket_id: int) -> ResponseReturnValue:
    """Agents change anything; customers may only set ``status`` to ``closed``."""
    data = json_body(optional={"status": str, "department_id": int})
    assignee = data.get("assignee_id")
    if assignee is not None and (isinstance(assignee, bool) or not isinstance(assignee, int)):
        raise ApiProblem(422, "Validation failed", "assignee_id must be a user id or null.",
                         {"assignee_id": "Expected int or null."})
    st = state()
    changes = service.Changes(status=data.get("status"), department_id=data.get("department_id"),
                              assignee_id=(data.get("assignee_id") or 0) if "assignee_id" in data else None)
    try:
        service.update_ticket(st, ticket_id, g.api_user, changes)
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get(Ticket, ticket_id), g.api_user))


@api_route(bp, "/tickets/<int:ticket_id>", "DELETE", summary="Delete a ticket (managers and admins)",
           tags=["tickets"], auth="manager",
           responses={204: ("Deleted", None), 403: ("Forbidden", None), 404: ("No such ticket", None)})
def delete_ticket(ticket_id: int) -> ResponseReturnValue:
    """Deletes messages, history and attachment references in one transaction."""
    try:
        service.delete_ticket(state(), ticket_id, g.api_user, ip=request_info().remote_addr)
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    return "", 204


@api_route(bp, "/departments", "GET", summary="Departments the caller may submit to or works in",
           tags=["departments"], responses={200: ("Departments", {"type": "object"})})
def list_departments() -> ResponseReturnValue:
    """Public departments for customers; staff also see their agents-only departments."""
    with state().db.session() as s:
        items = [department_json(s, d) for d in service.submittable_departments(s, g.api_user)]
    return jsonify({"items": items, "total": len(items)})


def _save(department_id: int | None) -> ResponseReturnValue:
    data = json_body()
    try:
        with state().db.session() as s:
            dept = save_department(s, department_id, data, actor=g.api_user.username, ip=request_info().remote_addr)
            body = department_json(s, dept)
    except DepartmentInvalid as exc:
        raise ApiProblem(422, "Validation failed", "Nothing was changed.", exc.errors) from None
    except LookupError:
        raise ApiProblem(404, "Not found", "There is no department with this id.") from None
    return jsonify(body), 201 if department_id is None else 200


@api_route(bp, "/departments", "POST", summary="Create a department", auth="manager", request_schema=DEPARTMENT_IN,
           tags=["departments"], responses={201: ("The department", DEPARTMENT), 403: ("Forbidden", None),
                                            422: ("Validation failed", None)})
def create_department() -> ResponseReturnValue:
    """Day counts are null (off) or whole numbers 1..36500."""
    return _save(None)


@api_route(bp, "/departments/<int:department_id>", "PATCH", summary="Change a department and its retention",
           auth="manager", request_schema=DEPARTMENT_IN, tags=["departments"],
           responses={200: ("The department", DEPARTMENT), 403: ("Forbidden", None), 404: ("Not found", None),
                      422: ("Validation failed; nothing changed", None)})
def patch_department(department_id: int) -> ResponseReturnValue:
    """Only the fields sent change; ``agent_ids`` replaces the agent list."""
    return _save(department_id)

