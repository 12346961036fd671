"""The ``plugdesk`` command (click). Exit 0 on success; otherwise a one-line reason on stderr."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import click

from core.settings import ConfigError, load_settings


class Fail(click.ClickException):
    """A one-line failure (exit status 1)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"plugdesk: {self.format_message()}", err=True)


def _load_app(ctx: click.Context) -> Any:
    from core.app import create_app
    from core.plugins import StartupError

    try:
        return create_app(ctx.obj["config"])
    except (ConfigError, StartupError) as exc:
        raise Fail(str(exc)) from None


def _state(ctx: click.Context) -> Any:
    from core.app_state import state

    app = _load_app(ctx)
    return app, state(app)


@click.group()
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
storage = "memory://"

[plugins]
enabled = {plugins}

[storage]
backend = "fs"

[captcha]
provider = "builtin"
"""


@main.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False), help="Directory to create.")
@click.option("--admin-username", default="admin", show_default=True)
@click.option("--admin-email", default="admin@localhost.localdomain", show_default=True)
@click.option("--admin-password-file", type=click.Path(dir_okay=False, exists=True),
              help="File holding the admin password (otherwise one is generated and printed once).")
@click.option("--base-url", default="http://127.0.0.1:8080", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def init(data_dir: str, admin_username: str, admin_email: str, admin_password_file: str | None,
         base_url: str, port: int) -> None:
    """Create DATA_DIR/plugdesk.toml, the database, the file store and the first admin."""
    from core.migrate import upgrade

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
    config_path.write_text(CONFIG_TEMPLATE.format(base_url=base_url, port=port, plugins=json.dumps(plugins)),
                           encoding="utf-8")
    try:
        settings = load_settings(config_path)
        upgrade(settings.get("database", "url"))
        from core.app import create_app
        from core.app_state import state
        from core.auth.accounts import register

        st = state(create_app(settings))
        register(st, username=admin_username, email=admin_email, password=password, role="admin", verified=True)
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
    click.echo(f"Start it with: plugdesk --config {config_path} serve")


@main.command()
@click.option("--host", default=None, help="Bind address (default: [server] host).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default: [server] port).")
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="gunicorn workers.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the portal, the management interface and the API with gunicorn."""
    from core.serve import plan_workers, run

    app = _load_app(ctx)
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
    run(app, host, port, workers, threads)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply migrations."""
    from core.migrate import upgrade

    try:
        settings = load_settings(ctx.obj["config"])
        upgrade(settings.get("database", "url"))
    except ConfigError as exc:
        raise Fail(str(exc)) from None
    except Exception as exc:
        raise Fail(f"migration failed: {exc.__class__.__name__}: {exc}") from None
    click.echo("database is up to date")


from core.cli_admin import plugins_group, settings_group, users_group  # noqa: E402

main.add_command(users_group)
main.add_command(plugins_group)
main.add_command(settings_group)
from core.kb.cli import kb_group  # noqa: E402, I001
main.add_command(kb_group)
from core.tickets.cli import retention_group  # noqa: E402, I001
main.add_command(retention_group)
from core.files.cli import storage_group  # noqa: E402, I001
main.add_command(storage_group)
from core.plugin_kit.cli import plugin_group  # noqa: E402, I001
main.add_command(plugin_group)
