"""Management pages for departments: list (with the last retention run), create, General and Tickets tabs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from core.api.paging import id_in
from core.app_state import state
from core.models import User
from core.retention import RetentionRun, last_run
from core.tickets.departments import (
    RETENTION_FIELDS,
    RETENTION_HELP,
    DepartmentInvalid,
    agent_ids,
    save_department,
)
from core.tickets.models import Department, Ticket
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("departments_manage", __name__, url_prefix="/manage")
SWITCH_LABELS = {"auto_close_days": "Close tickets automatically",
                 "lock_after_days": "Lock closed tickets",
                 "delete_after_days": "Delete closed tickets"}


@bp.route("/departments", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def departments() -> ResponseReturnValue:
    """All departments with ticket counts and retention rules; create one; the last retention run."""
    st = state()
    user = current_user()
    assert user is not None
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not PostForm().validate_on_submit():
            abort(400)
        try:
            with st.db.session() as s:
                dept = save_department(s, None, {"name": request.form.get("name", ""),
                                                 "public": request.form.get("public") == "on"},
                                       actor=user.username, ip=request_info().remote_addr)
                new_id = dept.id
        except DepartmentInvalid as exc:
            errors = exc.errors
        else:
            flash("Department created.", "success")
            return redirect(url_for("departments_manage.edit", department_id=new_id))
    with st.db.session() as s:
        rows = list(s.scalars(select(Department).order_by(Department.name)))
        counts = dict(s.execute(select(Ticket.department_id, func.count()).group_by(Ticket.department_id)).all())
        recent = list(s.scalars(select(RetentionRun).order_by(RetentionRun.id.desc()).limit(5)))
    return render_template("manage/departments.html", departments=rows, counts=counts, form=PostForm(),
                           errors=errors, last=last_run(st.db), recent=recent,
                           interval=st.settings.get("retention", "interval_minutes")), 400 if errors else 200


def _retention_form() -> tuple[dict[str, Any], dict[str, str]]:
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in RETENTION_FIELDS:
        if request.form.get(f"{key}_on") == "on":
            raw = request.form.get(key, "").strip()
            if not raw:
                errors[key] = "Enter the number of days, or switch the rule off."
            data[key] = raw
        else:
            data[key] = None
    return data, errors


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
@bp.route("/departments/<int:department_id>/<tab>", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def edit(department_id: int, tab: str = "general") -> ResponseReturnValue:
    """General tab (name, description, public, agents) and Tickets tab (the three retention switches)."""
    if tab not in ("general", "tickets"):
        abort(404)
    st = state()
    user = current_user()
    assert user is not None
    errors: dict[str, str] = {}
    posted: dict[str, Any] = {}
    if request.method == "POST":
        if not PostForm().validate_on_submit():
            abort(400)
        if tab == "tickets":
            posted, errors = _retention_form()
        else:
            posted = {"name": request.form.get("name", ""), "description": request.form.get("description", ""),
                      "email": request.form.get("email", ""),
                      "public": request.form.get("public") == "on",
                      "agent_ids": [i for i in map(id_in, request.form.getlist("agent_ids")) if i]}
        if not errors:
            try:
                with st.db.session() as s:
                    save_department(s, department_id, posted, actor=user.username, ip=request_info().remote_addr)
            except DepartmentInvalid as exc:
                errors = exc.errors
            except LookupError:
                abort(404)
            else:
                flash("Saved.", "success")
                return redirect(url_for("departments_manage.edit", department_id=department_id, tab=tab))
    with st.db.session() as s:
        dept = s.get(Department, department_id)
        if dept is None:
            abort(404)
        members = set(agent_ids(s, department_id))
        staff = list(s.scalars(select(User).where(User.role.in_(Role.at_least(Role.AGENT)))
                               .order_by(User.username_key)))
    values = {k: getattr(dept, k) for k in RETENTION_FIELDS}
    values.update({k: v for k, v in posted.items() if k in RETENTION_FIELDS})
    return render_template("manage/departments_edit.html", dept=dept, tab=tab, form=PostForm(), errors=errors,
                           values=values, fields=RETENTION_FIELDS, help=RETENTION_HELP, labels=SWITCH_LABELS,
                           members=members, staff=staff, switched={k: request.form.get(f"{k}_on") == "on"
                                                                   for k in RETENTION_FIELDS}
                           if posted else {k: values[k] is not None for k in RETENTION_FIELDS}), \
        400 if errors else 200
