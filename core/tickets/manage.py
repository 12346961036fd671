"""Management pages for tickets: queues per department, filter and sort, view, reply, notes, changes, delete."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select

from core.app_state import state
from core.auth.sessions import has_role
from core.models import User
from core.tickets import attachments, service
from core.tickets.flashing import attempt
from core.tickets.models import Department, Ticket, TicketEvent
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("tickets_manage", __name__, url_prefix="/manage")
SORTS = {"updated": Ticket.updated_at.desc(), "created": Ticket.created_at.desc(), "oldest": Ticket.created_at.asc(),
         "subject": Ticket.subject.asc(), "id": Ticket.id.desc()}
QUEUES = (("open", "Open"), ("waiting", "Waiting for customer"), ("closed", "Closed"))


@bp.get("/tickets")
@login_required("agent")
def queue() -> ResponseReturnValue:
    """Tickets of the agent's departments by queue (open / waiting / closed), filtered and sorted."""
    user = current_user()
    args = {"department": request.args.get("department", type=int), "status": request.args.get("status", "open"),
            "q": (request.args.get("q") or "").strip()[:100], "sort": request.args.get("sort", "updated"),
            "mine": request.args.get("mine") == "1"}
    if args["status"] not in ("open", "waiting", "closed", "all"):
        args["status"] = "open"
    with state().db.session() as s:
        allowed = service.staff_departments(s, user)
        dept_stmt = select(Department).order_by(Department.name)
        if allowed is not None:
            dept_stmt = dept_stmt.where(Department.id.in_(allowed))
        departments = list(s.scalars(dept_stmt))
        visible = [d.id for d in departments]
        base = select(Ticket).where(Ticket.department_id.in_(visible))
        if args["department"] in visible:
            base = base.where(Ticket.department_id == args["department"])
        if args["q"]:
            like = f"%{args['q']}%"
            cond = or_(Ticket.subject.ilike(like), Ticket.guest_email.ilike(like))
            if args["q"].isdigit():
                cond = or_(cond, Ticket.id == int(args["q"]))
            base = base.where(cond)
        if args["mine"] and user is not None:
            base = base.where(Ticket.assignee_id == user.id)
        sub = base.subquery()
        counts = dict(s.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())
        stmt = base if args["status"] == "all" else base.where(Ticket.status == args["status"])
        stmt = stmt.order_by(SORTS.get(args["sort"], SORTS["updated"])).limit(200)
        tickets = list(s.scalars(stmt))
        names = {d.id: d.name for d in departments}
        people = {u.id: u for u in s.scalars(select(User).where(User.id.in_(
            {t.customer_id for t in tickets if t.customer_id} | {t.assignee_id for t in tickets if t.assignee_id})))}
    return render_template("manage/tickets.html", tickets=tickets, departments=departments, names=names,
                           people=people, counts=counts, args=args, queues=QUEUES, sorts=list(SORTS))


@bp.get("/tickets/<int:ticket_id>")
@login_required("agent")
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
        history = list(s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                 .order_by(TicketEvent.id)))
        allowed = service.staff_departments(s, user)
        dept_stmt = select(Department).order_by(Department.name)
        if allowed is not None:
            dept_stmt = dept_stmt.where(Department.id.in_(allowed))
        departments = list(s.scalars(dept_stmt))
        agents = list(s.scalars(select(User).where(User.role.in_(("agent", "manager", "admin")),
                                                   User.is_active.is_(True)).order_by(User.username_key)))
        customer = s.get(User, ticket.customer_id) if ticket.customer_id else None
    return render_template("manage/tickets_view.html", t=data, history=history, departments=departments,
                           agents=agents, customer=customer, form=PostForm(), can_delete=has_role(user, "manager"),
                           attachments=attachments.available())


def _posted() -> None:
    if not PostForm().validate_on_submit():
        abort(400)


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required("agent")
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


@bp.post("/tickets/<int:ticket_id>/update")
@login_required("agent")
def update(ticket_id: int) -> ResponseReturnValue:
    """Change status, department and assignee."""
    user = current_user()
    assert user is not None
    _posted()
    changes = service.Changes(status=request.form.get("status") or None,
                              department_id=request.form.get("department_id", type=int),
                              assignee_id=request.form.get("assignee_id", type=int))
    attempt(lambda: service.update_ticket(state(), ticket_id, user, changes), "Saved.")
    return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/delete")
@login_required("manager")
def delete(ticket_id: int) -> ResponseReturnValue:
    """Delete a ticket (managers and admins)."""
    user = current_user()
    assert user is not None
    _posted()
    if not attempt(lambda: service.delete_ticket(state(), ticket_id, user, ip=request_info().remote_addr),
                   f"Ticket #{ticket_id} was deleted."):
        return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))
    return redirect(url_for("tickets_manage.queue"))
