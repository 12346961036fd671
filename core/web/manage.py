"""Management interface: dashboard, Settings > Security, Plugins, Users, Audit log."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from core.api.paging import id_in
from core.app_state import state
from core.auth.sessions import end_all_sessions, has_role
from core.models import ROLES, AuditEntry, User
from core.plugin_calls import PluginCallError
from core.runtime_settings import SettingsValidationError, form_value
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

log = logging.getLogger("plugdesk.manage")

bp = Blueprint("manage", __name__, url_prefix="/manage")
TABS = ("General", "Password Requirements", "IP Blacklist", "Uploads")


@bp.get("/")
@login_required(Role.AGENT)
def dashboard() -> ResponseReturnValue:
    """Counts at a glance."""
    with state().db.session() as s:
        users = s.scalar(select(func.count()).select_from(User)) or 0
    return render_template("manage/dashboard.html", users=users, plugins=state().host.info)


@bp.route("/settings", methods=["GET", "POST"])
@bp.route("/settings/<tab>", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def settings(tab: str = "general") -> ResponseReturnValue:
    """Settings > Security; admins edit, managers read."""
    st = state()
    tabs = {t.lower().replace(" ", "-"): t for t in TABS}
    plugin_tabs = sorted({s.tab for s in st.runtime.specs.values() if s.tab not in TABS})
    tabs.update({t.lower().replace(" ", "-"): t for t in plugin_tabs})
    if tab not in tabs:
        abort(404)
    specs = [s for s in st.runtime.specs.values() if s.tab == tabs[tab]]
    user = current_user()
    editable = has_role(user, Role.ADMIN)
    form = PostForm()
    errors: dict[str, str] = {}
    values = dict(st.runtime.all())
    locked: dict[str, str] = {}  # shown disabled, never changed by this form
    if all(p.external for p in st.auth_providers):
        locked["security.password_reset.enabled"] = (f"Every enabled auth provider keeps its passwords elsewhere "
                                                     f"({st.external_labels()}); passwords are reset there, so "
                                                     "this switch has no effect.")
    if request.method == "POST":
        if not editable:
            abort(403)
        if form.validate_on_submit():
            changes = {spec.key: form_value(spec, request.form.get(spec.key)) for spec in specs
                       if spec.key not in locked}
            try:  # the same pydantic checks as the API and the CLI, converting the form's text
                changed = st.runtime.patch(changes, actor=user.username if user else "?",
                                           ip=request_info().remote_addr, lax=True)
            except SettingsValidationError as exc:
                errors = exc.errors
                values.update(changes)
            else:
                flash(f"Saved ({len(changed)} change{'s' if len(changed) != 1 else ''}).", "success")
                for warning in st.runtime.warnings({k: new for k, (_old, new) in changed.items()}):
                    flash(f"Warning: {warning}", "error")
                return redirect(url_for("manage.settings", tab=tab))
    return render_template("manage/settings.html", tabs=tabs, tab=tab, specs=specs, values=values,
                           errors=errors, editable=editable, form=form, locked=locked), 400 if errors else 200


@bp.route("/plugins", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def plugins() -> ResponseReturnValue:
    """Enabled plugins with version, distribution, hooks, warnings, and a connection test for admins."""
    st = state()
    form = PostForm()
    warnings: dict[str, list[str]] = {}
    try:
        for plugin, result in st.host.each("plugin_warnings", ctx=st.ctx):
            if result:
                warnings[plugin] = list(result)
    except PluginCallError as exc:
        log.exception("plugin_warnings failed")
        warnings[exc.plugin] = [f"The plugin failed to report its warnings ({exc.error.__class__.__name__}); "
                                "see the server log."]
    testable = st.host.implementers("plugin_diagnose")
    steps, tested = None, None
    if request.method == "POST":
        if not has_role(current_user(), Role.ADMIN):
            abort(403)
        tested = request.form.get("plugin", "")
        if not form.validate_on_submit() or tested not in testable:
            abort(400)
        steps = st.host.one(tested, "plugin_diagnose", ctx=st.ctx, provider=None, username=None) or []
    return render_template("manage/plugins.html", plugins=st.host.info.values(), warnings=warnings,
                           testable=testable, steps=steps, tested=tested, form=form,
                           editable=has_role(current_user(), Role.ADMIN))


@bp.route("/users", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def users() -> ResponseReturnValue:
    """List users; change a role; disable or enable an account."""
    st = state()
    form = PostForm()
    actor = current_user()
    assert actor is not None
    if request.method == "POST" and form.validate_on_submit():
        user_id = id_in(request.form.get("user_id", ""))
        action = request.form.get("action", "")
        with st.db.session() as s:
            user = s.get(User, user_id) if user_id else None
            if user is None:
                abort(404)
            if user.id == actor.id:
                flash("You cannot change your own account here.", "error")
                return redirect(url_for("manage.users"))
            old: dict[str, Any] = {"role": user.role, "active": user.is_active, "verified": user.email_verified}
            if action == "role" and request.form.get("role") in ROLES:
                user.role = request.form["role"]
            elif action in ("disable", "enable"):
                user.is_active = action == "enable"
            elif action == "verify":
                user.email_verified = True
            else:
                abort(400)
            s.add(AuditEntry(actor=actor.username, ip=request_info().remote_addr, action=f"user.{action}",
                             target=user.username, old=old,
                             new={"role": user.role, "active": user.is_active, "verified": user.email_verified}))
            target_id = user.id
        if action == "disable":
            end_all_sessions(st.db, target_id)
        flash("Saved.", "success")
        return redirect(url_for("manage.users"))
    query = (request.args.get("q") or "").strip()[:100]
    verified = request.args.get("verified", "")
    with st.db.session() as s:
        stmt = select(User).order_by(User.username_key).limit(200)
        if verified in ("yes", "no"):
            stmt = stmt.where(User.email_verified.is_(verified == "yes"))
        if query:
            stmt = stmt.where(User.username_key.contains(query.casefold()) | User.email_key.contains(query.casefold()))
        rows = s.scalars(stmt).all()
    return render_template("manage/users.html", users=rows, roles=ROLES, form=form, q=query, verified=verified)


@bp.get("/audit")
@login_required(Role.MANAGER)
def audit() -> ResponseReturnValue:
    """The audit log, newest first, filterable by actor, action and target."""
    filters = {k: (request.args.get(k) or "").strip()[:100] for k in ("actor", "action", "target")}
    with state().db.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(500)
        for key, value in filters.items():
            if value:
                stmt = stmt.where(getattr(AuditEntry, key).contains(value))
        entries = s.scalars(stmt).all()
    return render_template("manage/audit.html", entries=entries, filters=filters)


@bp.route("/lockouts", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def lockouts() -> ResponseReturnValue:
    """Accounts locked by brute-force protection in the last 24 h; admins can lift a lock."""
    from datetime import timedelta

    from core.models import utcnow

    st = state()
    form = PostForm()
    actor = current_user()
    if request.method == "POST":
        if not has_role(actor, Role.ADMIN):
            abort(403)
        if form.validate_on_submit():
            target = (request.form.get("account") or "")[:320]
            st.lockout.clear(target)
            with st.db.session() as s:
                s.add(AuditEntry(actor=actor.username if actor else "?", ip=request_info().remote_addr,
                                 action="auth.unlock", target=target))
            flash(f"Lifted the lock on {target}.", "success")
            return redirect(url_for("manage.lockouts"))
    with st.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.lockout",
                                                  AuditEntry.at > utcnow() - timedelta(days=1))
                         .order_by(AuditEntry.id.desc())).all()
    active: dict[str, Any] = {}
    for row in rows:
        if row.target not in active:
            lock = st.lockout.state(row.target)
            if lock.locked:
                active[row.target] = {"account": row.target, "ip": row.ip, "since": row.at, "until": lock.until}
    return render_template("manage/lockouts.html", locks=list(active.values()), form=form,
                           editable=has_role(actor, Role.ADMIN))
