"""Management pages for tickets: queues per department, filter and sort, view, reply, notes, changes, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select

from core.api.paging import id_in, offset_of, page_number
from core.app_state import state
from core.auth.sessions import has_role
from core.models import User
from core.tickets import attachments, service
from core.tickets.flashing import attempt
from core.tickets.models import Department, Ticket
from core.types import Role, TicketStatus
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info
from core.workspace.context import workspace_context
from core.workspace.web import inline_answer

bp = Blueprint("tickets_manage", __name__, url_prefix="/manage")
SORTS = {"updated": Ticket.updated_at.desc(), "created": Ticket.created_at.desc(), "oldest": Ticket.created_at.asc(),
         "subject": Ticket.subject.asc(), "id": Ticket.id.desc()}
QUEUES = ((TicketStatus.OPEN, "Open"), (TicketStatus.WAITING, "Waiting for customer"), (TicketStatus.CLOSED, "Closed"))
PAGE_SIZE = 200
# What a queue row shows: columns, not entities (no identity map, one timestamp converted per row), in the
# order manage/tickets.html unpacks them
LIST_COLUMNS = (Ticket.id, Ticket.subject, Ticket.customer_id, Ticket.guest_email, Ticket.department_id,
                Ticket.status, Ticket.locked, Ticket.assignee_id, Ticket.updated_at)


@bp.get("/tickets")
@login_required(Role.AGENT)
def queue() -> ResponseReturnValue:
    """Tickets of the agent's departments by queue (open / waiting / closed), filtered and sorted."""
    user = current_user()
    args: dict[str, Any] = {"department": id_in(request.args.get("department", "")),
                            "status": request.args.get("status", TicketStatus.OPEN),
                            "q": (request.args.get("q") or "").strip()[:100],
                            "sort": request.args.get("sort", "updated"), "mine": request.args.get("mine") == "1"}
    page = page_number()
    if args["status"] not in (*TicketStatus, "all"):
        args["status"] = TicketStatus.OPEN
    with state().db.session() as s:
        allowed = service.staff_departments(s, user)
        dept_stmt = select(Department.id, Department.name).order_by(Department.name)
        if allowed is not None:
            dept_stmt = dept_stmt.where(Department.id.in_(allowed))
        departments = s.execute(dept_stmt).all()
        visible = [d.id for d in departments]
        base = select(*LIST_COLUMNS).where(Ticket.department_id.in_(visible))
        if args["department"] in visible:
            base = base.where(Ticket.department_id == args["department"])
        if args["q"]:
            like = f"%{args['q']}%"
            cond = or_(Ticket.subject.ilike(like), Ticket.guest_email.ilike(like))
            ticket_id = id_in(args["q"])  # "42" or "#42"; never int("²")
            if ticket_id is not None:
                cond = or_(cond, Ticket.id == ticket_id)
            base = base.where(cond)
        if args["mine"] and user is not None:
            base = base.where(Ticket.assignee_id == user.id)
        counts: dict[str, int] = dict(s.execute(  # the same filter, counted per status without a subquery
            base.with_only_columns(Ticket.status, func.count()).group_by(Ticket.status)).all())
        if "status" not in request.args and not counts.get(TicketStatus.OPEN):  # nothing open: a useful tab
            args["status"] = args["landed"] = next((k for k in (TicketStatus.WAITING, TicketStatus.CLOSED)
                                                    if counts.get(k)), TicketStatus.OPEN)
        stmt = base if args["status"] == "all" else base.where(Ticket.status == args["status"])
        stmt = stmt.order_by(SORTS.get(args["sort"], SORTS["updated"]), Ticket.id.desc())  # type: ignore[arg-type]
        tickets = s.execute(stmt.limit(PAGE_SIZE).offset(offset_of(page, PAGE_SIZE))).all()
        total = sum(counts.values()) if args["status"] == "all" else counts.get(args["status"], 0)
        names = {d.id: d.name for d in departments}
        ids = {t.customer_id for t in tickets if t.customer_id} | {t.assignee_id for t in tickets if t.assignee_id}
        people = {row.id: row.username for row in s.execute(select(User.id, User.username).where(User.id.in_(ids)))}
    return render_template("manage/tickets.html", tickets=tickets, departments=departments, names=names,
                           people=people, counts=counts, args=args, queues=QUEUES, sorts=list(SORTS), page=page,
                           pages=max(1, -(-total // PAGE_SIZE)))


@bp.get("/tickets/<int:ticket_id>")
@login_required(Role.AGENT)
def view(ticket_id: int) -> ResponseReturnValue:
    """A ticket with internal notes and history; reply, note, change, delete."""
    user = current_user()
    assert user is not None
    with state().db.session() as s:
        try:
            ticket = service.visible_ticket(s, user, ticket_id)
        except service.TicketProblem:
            abort(404)
        if not service.works_on(s, user, ticket):
            return redirect(url_for("tickets_portal.view", ticket_id=ticket_id))
        data = service.ticket_json(s, ticket, user)
        allowed = service.staff_departments(s, user)
        dept_stmt = select(Department).order_by(Department.name)
        if allowed is not None:
            dept_stmt = dept_stmt.where(Department.id.in_(allowed))
        departments = list(s.scalars(dept_stmt))
        agents = list(s.scalars(select(User).where(User.role.in_([r.value for r in Role if r.is_staff]),
                                                   User.is_active.is_(True)).order_by(User.username_key)))
        extra = workspace_context(s, ticket, user, allowed)  # customer, other tickets, history, canned, next
    return render_template("manage/tickets_view.html", t=data, departments=departments, agents=agents,
                           form=PostForm(), can_delete=has_role(user, Role.MANAGER),
                           attachments=attachments.available(), **extra)


def _posted() -> None:
    if not PostForm().validate_on_submit():
        abort(400)


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required(Role.AGENT)
def reply(ticket_id: int) -> ResponseReturnValue:
    """An agent's reply, or an internal note (``internal=on``)."""
    user = current_user()
    assert user is not None
    _posted()
    internal = request.form.get("internal") == "on"
    attempt(lambda: service.reply(state(), ticket_id, user, request.form.get("body", ""), internal=internal,
                                  uploads=request.files.getlist("files")),
            "Internal note added." if internal else "Reply sent.")
    return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))


def _assignee(raw: str | None) -> int | None:
    """The assignee field: ``0`` = unassign, a user id = assign, anything else = unchanged."""
    return 0 if (raw or "").strip() == "0" else id_in(raw or "")


@bp.post("/tickets/<int:ticket_id>/update")
@login_required(Role.AGENT)
def update(ticket_id: int) -> ResponseReturnValue:
    """Change status, department and assignee."""
    user = current_user()
    assert user is not None
    _posted()
    changes = service.Changes(status=request.form.get("status") or None,
                              department_id=id_in(request.form.get("department_id", "")),
                              assignee_id=_assignee(request.form.get("assignee_id")))
    ok = attempt(lambda: service.update_ticket(state(), ticket_id, user, changes), "Saved.")
    if request.headers.get("X-Plugdesk-Inline") == "1":  # the workspace's inline change (static/workspace.js)
        return inline_answer(ok)
    return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/delete")
@login_required(Role.MANAGER)
def delete(ticket_id: int) -> ResponseReturnValue:
    """Delete a ticket (managers and admins)."""
    user = current_user()
    assert user is not None
    _posted()
    if not attempt(lambda: service.delete_ticket(state(), ticket_id, user, ip=request_info().remote_addr),
                   f"Ticket #{ticket_id} was deleted."):
        return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))
    return redirect(url_for("tickets_manage.queue"))
