"""``plugdesk users``, ``plugdesk plugins`` and ``plugdesk settings`` (every listing takes --json)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from sqlalchemy import select

from core.cli.shared import Fail, app_state, echo_result
from core.models import ROLES, AuditEntry, User
from core.runtime_settings import SettingsValidationError, parse_cli_value


@click.group("users")
def users_group() -> None:
    """Manage accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--password-file", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--verified", is_flag=True, help="Mark the email address as verified.")
@click.pass_context
def users_create(ctx: click.Context, username: str, email: str, role: str, password_file: str,
                 verified: bool) -> None:
    """Create a local account."""
    from core.auth.accounts import PasswordRejected, register
    from core.users import AccountError

    _app, st = app_state(ctx)
    password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
    try:
        user = register(st, username=username, email=email, password=password, role=role, verified=verified)
    except PasswordRejected as exc:
        raise Fail(f"password refused: {' '.join(exc.problems)}") from None
    except AccountError as exc:
        raise Fail(f"{exc.field}: {exc.message}") from None
    click.echo(f"created {user.username} (id {user.id}, role {user.role})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--verified/--unverified", default=None, help="Only accounts whose email is (not) verified.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool, verified: bool | None) -> None:
    """List accounts."""
    _app, st = app_state(ctx)
    stmt = select(User).order_by(User.id)
    if verified is not None:
        stmt = stmt.where(User.email_verified.is_(verified))
    with st.db.session() as s:
        rows = [{"id": u.id, "username": u.username, "email": u.email, "role": u.role, "provider": u.provider,
                 "active": u.is_active, "verified": u.email_verified}
                for u in s.scalars(stmt)]
    echo_result(rows, as_json, (f"{r['id']:>5}  {r['username']:<24} {r['role']:<8} {r['provider']:<10} "
                                f"{'active' if r['active'] else 'disabled'}  {r['email']}" for r in rows))


def _change_user(ctx: click.Context, username: str, action: str, **changes: object) -> None:
    from core.auth.sessions import end_all_sessions
    from core.users import normalize_username

    _app, st = app_state(ctx)
    with st.db.session() as s:
        user = s.scalar(select(User).where(User.username_key == normalize_username(username)))
        if user is None:
            raise Fail(f"no user named {username!r}")
        old = {k: getattr(user, k) for k in changes}
        for key, value in changes.items():
            setattr(user, key, value)
        s.add(AuditEntry(actor="cli", action=action, target=user.username, old=old, new=dict(changes)))
        user_id = user.id
    if changes.get("is_active") is False:
        end_all_sessions(st.db, user_id)
    click.echo(f"{username}: " + ", ".join(f"{k} = {v}" for k, v in changes.items()))


@users_group.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def users_set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change a user's role."""
    _change_user(ctx, username, "user.role", role=role)


@users_group.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable an account and end its sessions."""
    _change_user(ctx, username, "user.disable", is_active=False)


@users_group.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx: click.Context, username: str) -> None:
    """Re-enable an account."""
    _change_user(ctx, username, "user.enable", is_active=True)


@click.group("plugins")
def plugins_group() -> None:
    """Inspect plugins."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins_list(ctx: click.Context, as_json: bool) -> None:
    """Enabled plugins: name, version, source distribution, declared hook-contract range, hooks implemented."""
    _app, st = app_state(ctx)
    infos = [asdict(i) | {"hooks": list(i.hooks)} for i in st.host.info.values()]
    echo_result(infos, as_json, (f"{i['name']:<24} {i['version']:<10} {i['distribution']:<24} "
                                 f"{i['hooks_version'] or '-':<12} {', '.join(i['hooks'])}" for i in infos))


@click.group("settings")
def settings_group() -> None:
    """Read and change runtime settings (Settings > Security and plugin settings)."""


@settings_group.command("get")
@click.argument("key")
@click.pass_context
def settings_get(ctx: click.Context, key: str) -> None:
    """Print one setting as JSON."""
    _app, st = app_state(ctx)
    try:
        click.echo(json.dumps(st.runtime.get(key)))
    except KeyError:
        raise Fail(f"unknown setting {key!r}; see `plugdesk settings list`") from None


@settings_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@click.pass_context
def settings_set(ctx: click.Context, key: str, value: str) -> None:
    """Set one setting; VALUE is JSON (true, 10, ["a","b"]) or a bare string."""
    _app, st = app_state(ctx)
    try:
        changed = st.runtime.patch({key: parse_cli_value(value)}, actor="cli")
    except SettingsValidationError as exc:
        raise Fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    new = st.runtime.get(key)
    click.echo(f"{key} = {json.dumps(new)}" + ("" if changed else " (unchanged)"))


@settings_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def settings_list(ctx: click.Context, as_json: bool) -> None:
    """Every runtime setting with its current value."""
    _app, st = app_state(ctx)
    values = st.runtime.all()
    echo_result(values, as_json, (f"{key} = {json.dumps(value)}" for key, value in values.items()))


@plugins_group.command("test")
@click.argument("name")
@click.option("--provider", default=None, help="Which of the plugin's providers to test.")
@click.option("--username", default=None, help="Also look this user up.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins_test(ctx: click.Context, name: str, provider: str | None, username: str | None,
                 as_json: bool) -> None:
    """Run a plugin's connection test (``plugin_diagnose``) and print each step."""
    _app, st = app_state(ctx)
    if name not in st.host.info:
        raise Fail(f"plugin {name!r} is not enabled; enabled: {', '.join(st.host.info)}")
    if not st.host.implements(name, "plugin_diagnose"):
        raise Fail(f"plugin {name!r} has no connection test")
    steps = st.host.one(name, "plugin_diagnose", ctx=st.ctx, provider=provider, username=username) or []
    echo_result([asdict(s) for s in steps], as_json,
                (f"[{'ok' if step.ok else 'FAIL'}] {step.name}: {step.detail}" for step in steps))
    if not all(step.ok for step in steps):
        raise Fail(f"{name}: connection test failed at step "
                   f"{next(s.name for s in steps if not s.ok)!r}")
