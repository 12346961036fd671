"""Ticket and department API routes under ``/api/v1`` (bearer tokens, problem+json, OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BeforeValidator, ConfigDict, Field
from sqlalchemy import func, select

from core.api.paging import page_query
from core.api.registry import ApiModel, ApiProblem, api_route
from core.app_state import state
from core.schema import Id, explain
from core.tickets import service
from core.tickets.departments import DepartmentInvalid, department_json, parse_days, save_department
from core.tickets.models import MAX_DAYS, Ticket
from core.types import Role, TicketStatus
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
    "status": {"type": "string", "enum": [s.value for s in TicketStatus]}, "locked": {"type": "boolean"},
    "assignee_id": {"type": ["integer", "null"]}, "created_at": _TS, "last_customer_reply_at": _TS,
    "last_agent_reply_at": _TS, "closed_at": _TS, "locked_at": _TS,
    "messages": {"type": "array", "items": MESSAGE}},
    "required": ["id", "subject", "department_id", "status", "locked", "messages"]}
_DAYS = {"type": ["integer", "null"], "minimum": 1, "maximum": 36500}
DEPARTMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "description": {"type": "string"},
    "public": {"type": "boolean"}, "auto_close_days": _DAYS, "lock_after_days": _DAYS, "delete_after_days": _DAYS,
    "agent_ids": {"type": "array", "items": {"type": "integer"}}},
    "required": ["id", "name", "auto_close_days", "lock_after_days", "delete_after_days"]}
BOTH = ("application/json", "multipart/form-data")
_FILES = {"type": "array", "items": {"type": "string", "format": "binary"},
          "description": "multipart/form-data only: the attached files"}


def _with_files(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {})["files"] = _FILES


class NewTicketIn(ApiModel):
    """``POST /tickets`` (JSON, or multipart with ``files``)."""

    model_config = ConfigDict(json_schema_extra=_with_files)
    subject: str
    department_id: Id
    body: str


class NewMessageIn(ApiModel):
    """``POST /tickets/{id}/messages``; ``internal: true`` makes an agents-only note."""

    model_config = ConfigDict(json_schema_extra=_with_files)
    body: str
    internal: bool = False


class TicketPatchIn(ApiModel):
    """``PATCH /tickets/{id}``: only the fields sent change; ``assignee_id: null`` unassigns."""

    status: Annotated[TicketStatus, Field(strict=False)] | None = None
    department_id: Id | None = None
    assignee_id: Id | None = None


class TicketListQuery(page_query(50, 500)):  # type: ignore[misc]
    """``GET /tickets``: paging plus optional ``status`` and ``department_id`` filters."""

    status: Annotated[TicketStatus, Field(strict=False)] | None = None
    department_id: Id | None = None


Days = Annotated[int | None, Field(ge=1, le=MAX_DAYS), BeforeValidator(parse_days)]


class DepartmentIn(ApiModel):
    """``POST /departments`` and ``PATCH /departments/{id}``: day counts are null (off) or 1..36,500."""

    name: str | None = None
    description: str | None = None
    public: bool | None = None
    auto_close_days: Days = None
    lock_after_days: Days = None
    delete_after_days: Days = None
    agent_ids: Annotated[list[Id] | None, explain("Expected a list of user ids.")] = None


@bp.errorhandler(ApiProblem)
def _problem(exc: ApiProblem) -> ResponseReturnValue:
    return exc.get_response()


def _fail(exc: service.TicketProblem) -> ApiProblem:
    titles = {403: "Forbidden", 404: "Not found", 422: "Validation failed"}
    errors = {exc.field: exc.message} if exc.field and exc.status == 422 else None
    return ApiProblem(exc.status, titles.get(exc.status, "Refused"), exc.message, errors)


def _files() -> list[Any]:
    """The uploaded ``files`` of a multipart request (none for JSON)."""
    return request.files.getlist("files") if request.mimetype == "multipart/form-data" else []


@api_route(bp, "/tickets", "POST", summary="Open a ticket (JSON, or multipart with files)", body=NewTicketIn,
           content_types=BOTH, tags=["tickets"],
           responses={201: ("The new ticket", TICKET), 403: ("Agents-only department", None),
                      422: ("Validation failed", None)})
def create_ticket(body: NewTicketIn) -> ResponseReturnValue:
    """Open a ticket in a public department (agents also in their own departments)."""
    st = state()
    try:
        ticket_id = service.create_ticket(st, user=g.api_user, department_id=body.department_id,
                                          subject=body.subject, body=body.body, uploads=_files())
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get_one(Ticket, ticket_id), g.api_user)), 201


@api_route(bp, "/tickets", "GET", summary="Tickets the caller may see", tags=["tickets"], query=TicketListQuery,
           responses={200: ("Tickets, newest first", {"type": "object"})})
def list_tickets(query: TicketListQuery) -> ResponseReturnValue:
    """Customers: their own tickets; agents: their departments' tickets. Filters: status, department_id."""
    st = state()
    with st.db.session() as s:
        stmt = select(Ticket)
        depts = service.staff_departments(s, g.api_user)
        if not service.is_staff(g.api_user):
            stmt = stmt.where(Ticket.customer_id == g.api_user.id)
        elif depts is not None:
            stmt = stmt.where(Ticket.department_id.in_(depts) | (Ticket.customer_id == g.api_user.id))
        if query.status is not None:
            stmt = stmt.where(Ticket.status == query.status)
        if query.department_id is not None:
            stmt = stmt.where(Ticket.department_id == query.department_id)
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.scalars(stmt.order_by(Ticket.id.desc()).limit(query.limit).offset(query.offset))
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
           body=NewMessageIn, content_types=BOTH, tags=["tickets"],
           responses={201: ("The ticket after the reply", TICKET), 403: ("Locked, or not allowed", None),
                      404: ("No such ticket, or not yours", None), 422: ("Validation failed", None)})
def post_message(ticket_id: int, body: NewMessageIn) -> ResponseReturnValue:
    """A reply; ``internal: true`` adds a note only agents see. Locked tickets answer 403 with the reason."""
    st = state()
    try:
        service.reply(st, ticket_id, g.api_user, body.body, internal=body.internal, uploads=_files())
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get_one(Ticket, ticket_id), g.api_user)), 201


@api_route(bp, "/tickets/<int:ticket_id>", "PATCH", summary="Change status, department or assignee",
           body=TicketPatchIn, tags=["tickets"],
           responses={200: ("The ticket", TICKET), 403: ("Not allowed", None), 404: ("No such ticket", None),
                      422: ("Validation failed", None)})
def patch_ticket(ticket_id: int, body: TicketPatchIn) -> ResponseReturnValue:
    """Agents change anything; customers may only set ``status`` to ``closed``."""
    st = state()
    changes = service.Changes(status=body.status, department_id=body.department_id,
                              assignee_id=(body.assignee_id or 0) if "assignee_id" in body.model_fields_set else None)
    try:
        service.update_ticket(st, ticket_id, g.api_user, changes)
    except service.TicketProblem as exc:
        raise _fail(exc) from None
    with st.db.session() as s:
        return jsonify(service.ticket_json(s, s.get_one(Ticket, ticket_id), g.api_user))


@api_route(bp, "/tickets/<int:ticket_id>", "DELETE", summary="Delete a ticket (managers and admins)",
           tags=["tickets"], auth=Role.MANAGER,
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
    """Public departments for customers; staff also see their agents-only departments (and who works there:
    ``agent_ids`` is left out for customers)."""
    staff = service.is_staff(g.api_user)
    with state().db.session() as s:
        items = [department_json(s, d) for d in service.submittable_departments(s, g.api_user)]
    if not staff:
        items = [{k: v for k, v in item.items() if k != "agent_ids"} for item in items]
    return jsonify({"items": items, "total": len(items)})


def _save(department_id: int | None, body: DepartmentIn) -> ResponseReturnValue:
    data = body.model_dump(exclude_unset=True)
    try:
        with state().db.session() as s:
            dept = save_department(s, department_id, data, actor=g.api_user.username, ip=request_info().remote_addr)
            saved = department_json(s, dept)
    except DepartmentInvalid as exc:
        raise ApiProblem(422, "Validation failed", "Nothing was changed.", exc.errors) from None
    except LookupError:
        raise ApiProblem(404, "Not found", "There is no department with this id.") from None
    return jsonify(saved), 201 if department_id is None else 200


@api_route(bp, "/departments", "POST", summary="Create a department", auth=Role.MANAGER, body=DepartmentIn,
           tags=["departments"], responses={201: ("The department", DEPARTMENT), 403: ("Forbidden", None),
                                            422: ("Validation failed", None)})
def create_department(body: DepartmentIn) -> ResponseReturnValue:
    """Day counts are null (off) or whole numbers 1..36500."""
    return _save(None, body)


@api_route(bp, "/departments/<int:department_id>", "PATCH", summary="Change a department and its retention",
           auth=Role.MANAGER, body=DepartmentIn, tags=["departments"],
           responses={200: ("The department", DEPARTMENT), 403: ("Forbidden", None), 404: ("Not found", None),
                      422: ("Validation failed; nothing changed", None)})
def patch_department(department_id: int, body: DepartmentIn) -> ResponseReturnValue:
    """Only the fields sent change; ``agent_ids`` replaces the agent list."""
    return _save(department_id, body)

