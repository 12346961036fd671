"""The ``plugdesk`` root group and its own commands (``init``, ``serve``, ``db upgrade``).

The other command groups live next to what they manage and are added by :func:`build`, which
:mod:`core.cli` calls the first time ``core.cli.main`` is looked up.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import click

from core.cli.shared import Fail, load_app
from core.settings import ConfigError, load_settings
from core.types import Role


class RootGroup(click.Group):
    """The root group. ``serve`` and ``init`` resolve without importing the other command groups: the ``serve``
    process builds the app and forks it into every gunicorn worker, so whatever it imports (the plugin
    scaffolder, backup, tomlkit, ...) costs every worker its memory (issue 22). Any other name, ``--help`` and
    the command list first add every group (:func:`build`)."""

    light = frozenset({"serve", "init"})
    complete = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``; every group is added first unless it is one of :attr:`light`."""
        if cmd_name not in self.light and not self.complete:
            build()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name (after adding every group)."""
        if not self.complete:
            build()
        return super().list_commands(ctx)


@click.group(cls=RootGroup)
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="PLUGDESK_CONFIG",
              help="Path to plugdesk.toml (or env PLUGDESK_CONFIG).")
@click.version_option(package_name="plugdesk")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """plugdesk: a help desk whose every policy is a plugin."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


CONFIG_TEMPLATE = """\
# plugdesk configuration. Reference: docs/configuration.md
[server]
base_url = "{base_url}"
data_dir = "."
secret_key = {{ "$file" = "secret_key" }}
host = "127.0.0.1"
port = {port}

[database]
url = "sqlite:///plugdesk.db"

[limits]
storage = "local://"

[plugins]
enabled = {plugins}

[storage]
backend = {backend}

[captcha]
provider = {captcha}
"""


@main.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False), help="Directory to create.")
@click.option("--admin-username", default="admin", show_default=True)
@click.option("--admin-email", default="admin@localhost.localdomain", show_default=True)
@click.option("--admin-password-file", type=click.Path(dir_okay=False, exists=True),
              help="File holding the admin password (otherwise one is generated and printed once).")
@click.option("--base-url", default="http://127.0.0.1:8080", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-default-department", "no_department", is_flag=True,
              help='Do not create the public department "General" (customers need one to submit tickets).')
def init(data_dir: str, admin_username: str, admin_email: str, admin_password_file: str | None,
         base_url: str, port: int, no_department: bool) -> None:
    """Create DATA_DIR/plugdesk.toml, the database, the file store, the first admin and a public department
    "General" (unless --no-default-department)."""
    from core.migrate import upgrade_all

    target = Path(data_dir).resolve()
    config_path = target / "plugdesk.toml"
    if config_path.exists():
        raise Fail(f"{config_path} already exists; run `plugdesk --config {config_path} serve` to start it")
    password = (Path(admin_password_file).read_text(encoding="utf-8").rstrip("\r\n")
                if admin_password_file else secrets.token_urlsafe(12))
    from core.plugins import loadable_defaults

    plugins = loadable_defaults()
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    secret_file = target / "secret_key"
    secret_file.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    os.chmod(secret_file, 0o600)
    from core.settings import SCHEMA  # the embedded defaults: core itself names no storage or captcha plugin

    config_path.write_text(CONFIG_TEMPLATE.format(base_url=base_url, port=port, plugins=json.dumps(plugins),
                                                  backend=json.dumps(SCHEMA["storage"]["backend"].default),
                                                  captcha=json.dumps(SCHEMA["captcha"]["provider"].default)),
                           encoding="utf-8")
    try:
        settings = load_settings(config_path)
        upgrade_all(settings)  # core's migrations and those of the enabled plugins
        from core.app import create_app
        from core.app_state import state
        from core.auth.accounts import register

        st = state(create_app(settings))
        register(st, username=admin_username, email=admin_email, password=password, role=Role.ADMIN, verified=True)
        if not no_department:
            from core.tickets.departments import save_department

            with st.db.session() as s:
                save_department(s, None, {"name": "General", "public": True,
                                          "description": "Questions of any kind."}, actor="plugdesk init")
    except Exception as exc:
        for leftover in (config_path, secret_file, target / "plugdesk.db"):
            leftover.unlink(missing_ok=True)
        message = getattr(exc, "problems", None) or [str(exc)]
        raise Fail(f"init failed: {' '.join(message)}") from None
    click.echo(f"Initialised {target}")
    click.echo(f"  config:   {config_path}")
    click.echo(f"  admin:    {admin_username}")
    if not admin_password_file:
        click.echo(f"  password: {password}   (shown once; change it after logging in)")
    if not no_department:
        click.echo('  department: "General" (public; rename it or add more under Manage › Departments)')
    click.echo(f"Start it with: plugdesk --config {config_path} serve")


@main.command()
@click.option("--host", default=None, help="Bind address (default: [server] host).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default: [server] port).")
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="gunicorn workers.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the portal, the management interface and the API with gunicorn."""
    from core.serve import plan_workers, run

    app = load_app(ctx)
    from core.app_state import state

    settings = state(app).settings
    host = host or settings.get("server", "host")
    port = port or settings.get("server", "port")
    workers, threads, note = plan_workers(settings.get("limits", "storage"),
                                          workers or settings.get("server", "workers") or None)
    if note:
        click.echo(note, err=True)
    click.echo(f"plugdesk serving on http://{host}:{port}/ (public URL {settings.get('server', 'base_url')}), "
               f"{workers} worker(s) x {threads} threads")
    sys.stdout.flush()
    if workers > 1:  # per-worker SO_REUSEPORT listeners: refuse a port another server already listens on
        from core.serve import port_free

        try:
            port_free(host, port)
        except OSError as exc:
            raise Fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    run(app, host, port, workers, threads)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply migrations (core's and those of every enabled plugin that owns tables)."""
    from core.migrate import upgrade_all
    from core.plugins import StartupError

    try:
        settings = load_settings(ctx.obj["config"])
        upgrade_all(settings)
    except (ConfigError, StartupError) as exc:
        raise Fail(str(exc)) from None
    except Exception as exc:
        raise Fail(f"migration failed: {exc.__class__.__name__}: {exc}") from None
    click.echo("database is up to date")


def build() -> click.Group:
    """Add every command group to :func:`main` (once) and return it."""
    from core.cli.admin import plugins_group, settings_group, users_group
    from core.files.cli import storage_group
    from core.kb.cli import kb_group
    from core.plugin_kit.cli import plugin_group
    from core.tickets.cli import retention_group

    for group in (users_group, plugins_group, settings_group, kb_group, retention_group, storage_group,
                  plugin_group):
        if group.name not in main.commands:
            main.add_command(group)
    from core.worker.cli import mail_group, worker_command

    for command in (worker_command, mail_group):  # plugdesk worker; plugdesk mail outbox list|retry|discard
        if command.name not in main.commands:
            main.add_command(command)
    from core.ops.cli import register as register_ops

    register_ops(main)  # backup create|restore|list; db upgrade with lock and --dry-run; db status
    if isinstance(main, RootGroup):
        main.complete = True
    return main
