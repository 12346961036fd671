"""``plugdesk backup create|restore|list`` and the safe ``plugdesk db upgrade|status``.

Progress goes to stderr as a bar when stderr is a terminal. Summaries are JSON with ``--json`` or when
stdout is not a terminal (scripts, cron), one human line otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from core.cli.shared import Fail, app_state


def _progress(label: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A ``progress(done, total)`` callback drawing a bar on a TTY, and a function that ends the bar."""
    if not sys.stderr.isatty():
        return None, lambda: None
    holder: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        bar = holder.get("bar")
        if bar is None:
            bar = holder["bar"] = click.progressbar(length=max(total, 1), label=label, file=sys.stderr,
                                                    show_pos=False, show_percent=True, show_eta=True)
            bar.__enter__()
            holder["done"] = 0
        bar.update(done - holder["done"])
        holder["done"] = done

    def finish() -> None:
        if "bar" in holder:
            holder["bar"].__exit__(None, None, None)

    return update, finish


def _summary(data: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json or not sys.stdout.isatty():
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(line)


@click.group("backup")
def backup_group() -> None:
    """Backups: one archive with the database, the blobs and the configuration (without secrets)."""


@backup_group.command("create")
@click.option("--to", "to_path", required=True, type=click.Path(dir_okay=False), help="Archive to write (.tar).")
@click.option("--blobs", type=click.Choice(["include", "skip"]), default="include", show_default=True,
              help="skip: list the blobs but leave their bytes out (stores the provider backs up, e.g. S3 "
                   "with versioning).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def create_command(ctx: click.Context, to_path: str, blobs: str, as_json: bool) -> None:
    """Write a consistent backup while the site keeps serving."""
    from core.ops.backup import BackupError, create_backup
    from core.ops.schedule import count_backup

    _app, st = app_state(ctx)
    update, finish = _progress("backup")
    try:
        summary = create_backup(st, Path(to_path), blobs=blobs, progress=update)
    except (BackupError, OSError) as exc:
        count_backup(st, "failed")
        raise Fail(f"backup failed: {exc}") from None
    finally:
        finish()
    count_backup(st, "ok")
    _summary(summary, as_json, f"wrote {summary['path']}: {summary['bytes'] / 1048576:.1f} MiB "
                               f"({summary['blob_count']} blobs, {summary['tickets']} tickets, schema "
                               f"{','.join(summary['schema'])}) in {summary['seconds']:.1f} s")


@backup_group.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", required=True, type=click.Path(file_okay=False),
              help="The new instance: an empty directory, or one holding only its plugdesk.toml.")
@click.option("--database-url", default=None, help="Empty PostgreSQL database to restore into (when DIR has no "
                                                   "plugdesk.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def restore_command(archive: str, data_dir: str, database_url: str | None, as_json: bool) -> None:
    """Restore ARCHIVE into an empty instance; verifies every checksum first."""
    from core.ops.restore import RestoreError, restore_backup

    update, finish = _progress("restore")
    try:
        summary = restore_backup(Path(archive), Path(data_dir), database_url=database_url, progress=update,
                                 echo=lambda line: click.echo(line, err=True))
    except RestoreError as exc:
        raise Fail(f"restore refused: {exc}") from None
    finally:
        finish()
    for key in summary["secrets_to_set"]:
        click.echo(f"note: {key} was not in the backup (secrets never are): set it in {summary['config']}", err=True)
    problems = summary["fsck_problems"]
    _summary(summary, as_json, f"restored into {summary['data_dir']} ({summary['blobs_restored']} blobs, "
                               f"{summary['attachments']} attachments); storage fsck: "
                               f"{'clean' if not problems else f'{len(problems)} problem(s)'}. "
                               f"Start it with: plugdesk --config {summary['config']} serve")
    if problems or summary["blobs_missing"]:
        raise Fail(f"restored, but `plugdesk storage fsck` reports {len(problems)} problem(s) and "
                   f"{summary['blobs_missing']} referenced blob(s) are not in the store")


@backup_group.command("list")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Directory to list (default: [backup] dir).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_command(ctx: click.Context, directory: str | None, as_json: bool) -> None:
    """Backups in the backup directory, newest first."""
    from core.ops.schedule import backup_dir, list_backups
    from core.settings import ConfigError, load_settings

    try:
        folder = Path(directory) if directory else backup_dir(load_settings(ctx.obj["config"]))
    except ConfigError as exc:
        raise Fail(str(exc)) from None
    items = list_backups(folder)
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
        return
    for item in items:
        click.echo(f"{item['name']:<48} {item['bytes'] / 1048576:>10.1f} MiB  {item['created_at']}  "
                   f"schema {','.join(item.get('schema') or ['?'])}")


@click.command("upgrade")
@click.option("--dry-run", is_flag=True, help="Print the migrations that would run; change nothing.")
@click.option("--lock-timeout", default=600, show_default=True, type=click.IntRange(0),
              help="Seconds to wait while another node holds the upgrade lock.")
@click.pass_context
def db_upgrade_command(ctx: click.Context, dry_run: bool, lock_timeout: int) -> None:
    """Apply migrations (core's and every enabled plugin's) under a cluster-wide lock.

    Refuses a database migrated by a newer plugdesk. Run it on one node; others wait for the lock and then
    find nothing to do.
    """
    from core.migrate import plugin_locations
    from core.ops.schema import UpgradeRefused, safe_upgrade
    from core.plugins import PluginHost, StartupError
    from core.settings import ConfigError, load_settings

    try:
        settings = load_settings(ctx.obj["config"])
        locations = plugin_locations(PluginHost(settings))
        safe_upgrade(settings.get("database", "url"), locations=locations, dry_run=dry_run,
                     lock_timeout=lock_timeout, echo=click.echo)
    except (ConfigError, StartupError, UpgradeRefused) as exc:
        raise Fail(str(exc)) from None
    except Exception as exc:
        raise Fail(f"migration failed: {exc.__class__.__name__}: {exc}") from None


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def db_status_command(ctx: click.Context, as_json: bool) -> None:
    """Where the database schema stands against this code (current, behind, ahead, empty)."""
    from core.db import make_engine
    from core.migrate import plugin_locations
    from core.ops.schema import status
    from core.plugins import PluginHost, StartupError
    from core.settings import ConfigError, load_settings

    try:
        settings = load_settings(ctx.obj["config"])
        locations = plugin_locations(PluginHost(settings))
    except (ConfigError, StartupError) as exc:
        raise Fail(str(exc)) from None
    engine = make_engine(settings.get("database", "url"))
    try:
        found = status(engine, locations)
    finally:
        engine.dispose()
    data = {"state": found.state, "database": list(found.database), "code": list(found.code),
            "pending": list(found.pending)}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"{found.state}: database {found.revision()}, code {','.join(found.code)}"
                   + (f", pending {', '.join(found.pending)}" if found.pending else ""))


def register(main: click.Group) -> None:
    """Add ``backup`` and replace ``db upgrade`` with the locked, checked one (called by the CLI builder)."""
    if "backup" not in main.commands:
        main.add_command(backup_group)
    db = main.commands.get("db")
    if isinstance(db, click.Group):
        db.add_command(db_upgrade_command, "upgrade")
        db.add_command(db_status_command, "status")
