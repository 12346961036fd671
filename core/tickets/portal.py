"""Portal pages: submit a ticket (customers, and guests when allowed), list and follow own tickets."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.api.paging import id_in
from core.app_state import state
from core.captcha import check_captcha, render_captcha
from core.tickets import attachments, service
from core.tickets.flashing import attempt
from core.tickets.lists import MY_TICKETS, Escaped, ticket_url_prefix
from core.tickets.models import Department
from core.types import TicketStatus
from core.users import to_info
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info
from core.web.ticket_check import ticket_form_problems

bp = Blueprint("tickets_portal", __name__)


@bp.get("/tickets")
@login_required()
def my_tickets() -> ResponseReturnValue:
    """The customer's own tickets with their status."""
    user = current_user()
    assert user is not None
    with state().db.reader() as r:  # one precompiled statement: the columns a row shows, its status label
        rows = r.all(MY_TICKETS, customer=user.id)
    return render_template("tickets/list.html", rows=rows, esc=Escaped(),
                           view_url=ticket_url_prefix("tickets_portal.view", "ticket_id"))


@bp.route("/tickets/new", methods=["GET", "POST"])
def new_ticket() -> ResponseReturnValue:
    """Submit a ticket to a public department (subject, message, attachments, captcha when enabled)."""
    st = state()
    user = current_user()
    guests = bool(st.runtime.get("tickets.allow_guests"))
    if user is None and not guests:
        return redirect(url_for("portal.login", next=request.path))
    info = to_info(user) if user else None
    form = PostForm()
    errors: dict[str, list[str]] = {}
    values = {k: request.form.get(k, "") for k in ("subject", "body", "email", "department_id")}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        verdict = check_captcha(st, request.form, "ticket", request_info().remote_addr, info)
        dept_id = id_in(values["department_id"])
        errors = ticket_form_problems(st, user, values, dept_id)  # every problem at once, with the captcha's
        if not verdict.ok:
            errors["captcha"] = [verdict.message]
        if not errors:
            try:
                ticket_id = service.create_ticket(st, user=user, department_id=dept_id, subject=values["subject"],
                                                  body=values["body"], guest_email=values["email"],
                                                  uploads=request.files.getlist("files"))
            except service.TicketProblem as exc:
                errors[exc.field or "form"] = [exc.message]
            else:
                if user is None:
                    return render_template("tickets/guest_done.html", ticket_id=ticket_id, email=values["email"])
                flash(f"Ticket #{ticket_id} was submitted. We will answer soon.", "success")
                return redirect(url_for("tickets_portal.view", ticket_id=ticket_id))
    with st.db.session() as s:
        departments = service.submittable_departments(s, user)
    return render_template("tickets/new.html", form=form, errors=errors, values=values, departments=departments,
                           guest=user is None, captcha=render_captcha(st, "ticket", info),
                           attachments=attachments.available()), 400 if errors else 200


@bp.get("/tickets/<int:ticket_id>")
@login_required()
def view(ticket_id: int) -> ResponseReturnValue:
    """One of the customer's tickets: messages (never internal notes), reply form unless locked, close."""
    user = current_user()
    assert user is not None
    with state().db.session() as s:
        try:
            ticket = service.visible_ticket(s, user, ticket_id)
        except service.TicketProblem:
            abort(404)
        if service.works_on(s, user, ticket) and ticket.customer_id != user.id:
            return redirect(url_for("tickets_manage.view", ticket_id=ticket_id))
        data = service.ticket_json(s, ticket, user)
        department = s.get(Department, ticket.department_id)
    return render_template("tickets/view.html", t=data, department=department, form=PostForm(),
                           attachments=attachments.available())


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required()
def reply(ticket_id: int) -> ResponseReturnValue:
    """The customer's reply (reopens a closed ticket; refused when locked)."""
    user = current_user()
    assert user is not None
    if not PostForm().validate_on_submit():
        abort(400)
    attempt(lambda: service.reply(state(), ticket_id, user, request.form.get("body", ""),
                                  uploads=request.files.getlist("files")), "Your reply was sent.")
    return redirect(url_for("tickets_portal.view", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/close")
@login_required()
def close(ticket_id: int) -> ResponseReturnValue:
    """The customer closes their own ticket."""
    user = current_user()
    assert user is not None
    if not PostForm().validate_on_submit():
        abort(400)
    attempt(lambda: service.update_ticket(state(), ticket_id, user, service.Changes(status=TicketStatus.CLOSED)),
            "The ticket is closed. Reply to reopen it.")
    return redirect(url_for("tickets_portal.view", ticket_id=ticket_id))
