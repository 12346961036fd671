"""Management › Canned responses (managers and admins) and the JSON answer of inline ticket changes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, get_flashed_messages, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from core.app_state import state
from core.tickets.models import Department
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info
from core.workspace import canned
from core.workspace.models import CannedResponse

bp = Blueprint("canned", __name__, url_prefix="/manage/canned")


def inline_answer(ok: bool) -> ResponseReturnValue:
    """``{"ok", "message"}`` for a change made from the conversation view without reloading it.

    The message is the one the form action flashed; it is taken out of the session, so it does not show
    up again on the next page.
    """
    messages: list[tuple[str, str]] = get_flashed_messages(with_categories=True)  # type: ignore[assignment]
    text = " ".join(str(m) for _c, m in messages) or ("Saved." if ok else "Nothing was changed.")
    return jsonify({"ok": ok, "message": text}), 200 if ok else 422


def _checked() -> None:
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")


@bp.get("/")
@login_required("manager")
def index() -> ResponseReturnValue:
    """Every canned response with its department, and the placeholders they may use."""
    with state().db.session() as s:
        rows = list(s.scalars(select(CannedResponse).order_by(CannedResponse.department_id.is_not(None),
                                                              CannedResponse.title, CannedResponse.id)))
        names = dict(s.execute(select(Department.id, Department.name)).all())
    return render_template("manage/canned.html", rows=rows, names=names, form=PostForm(),
                           placeholders=canned.PLACEHOLDERS)


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:response_id>/edit", methods=["GET", "POST"])
@login_required("manager")
def edit(response_id: int | None = None) -> ResponseReturnValue:
    """Create or change a canned response."""
    st = state()
    errors: dict[str, str] = {}
    with st.db.session() as s:
        row = s.get(CannedResponse, response_id) if response_id else None
        if response_id and row is None:
            abort(404)
        departments = list(s.scalars(select(Department).order_by(Department.name)))
    values = {"title": row.title if row else "", "body": row.body if row else "",
              "department_id": str(row.department_id or "") if row else request.args.get("department", "")}
    if request.method == "POST":
        _checked()
        values = {k: request.form.get(k, "") for k in ("title", "body", "department_id")}
        user = current_user()
        try:
            with st.db.session() as s:
                saved = canned.save(s, response_id, values, actor=user.username if user else "?",
                                    ip=request_info().remote_addr)
                title = saved.title
        except canned.CannedInvalid as exc:
            errors = exc.errors
        except LookupError:
            abort(404)
        else:
            flash(f"Saved “{title}”.", "success")
            return redirect(url_for("canned.index"))
    return render_template("manage/canned_edit.html", row=row, values=values, errors=errors,
                           departments=departments, form=PostForm(), placeholders=canned.PLACEHOLDERS,
                           unknown=canned.unknown_placeholders(values["body"])), 400 if errors else 200


@bp.post("/<int:response_id>/delete")
@login_required("manager")
def delete(response_id: int) -> ResponseReturnValue:
    """Delete a canned response."""
    _checked()
    user = current_user()
    with state().db.session() as s:
        if not canned.remove(s, response_id, actor=user.username if user else "?", ip=request_info().remote_addr):
            abort(404)
    flash("The canned response was deleted.", "success")
    return redirect(url_for("canned.index"))

