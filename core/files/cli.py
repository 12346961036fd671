"""``plugdesk storage fsck | gc | migrate | usage``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.cli.shared import Fail, app_state, echo_result
from core.files.fsck import fsck, migrate, switch_backend
from core.files.service import DEFAULT_GRACE_SECONDS, FileService, file_service, human_size
from core.types import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState


@click.group("storage")
def storage_group() -> None:
    """File store: checks, garbage collection, migration between backends."""


def _service(ctx: click.Context) -> tuple[AppState, FileService]:
    _app, st = app_state(ctx)
    try:
        return st, file_service(st)
    except StorageError as exc:
        raise Fail(str(exc)) from None


@storage_group.command("fsck")
@click.option("--repair", is_flag=True, help="Fix what can be fixed (orphans, counts, unreferenced damage).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quick", is_flag=True, help="Skip re-hashing every blob (sizes are still compared).")
@click.option("--grace-seconds", default=DEFAULT_GRACE_SECONDS, show_default=True, type=click.IntRange(0),
              help="Unattached uploads younger than this are in flight, not problems.")
@click.pass_context
def fsck_command(ctx: click.Context, repair: bool, as_json: bool, quick: bool, grace_seconds: int) -> None:
    """Check the database against the blob store. Exit 1 if problems remain."""
    _st, service = _service(ctx)
    try:
        report = fsck(service, repair=repair, verify=not quick, grace_seconds=grace_seconds)
    except StorageError as exc:
        raise Fail(f"storage is not answering: {exc}") from None
    summary = (f"{report['blobs']} blobs, {report['attachments']} attachments, "
               f"{human_size(report['bytes_stored'])} stored, {human_size(report['bytes_saved'])} saved by dedup")
    problems = [f"  {p['kind']:<14} {p['digest']}  {p['detail']}{'  [repaired]' if p['repaired'] else ''}"
                for p in report["problems"]]
    echo_result(report, as_json, [summary, *problems])
    remaining = [p for p in report["problems"] if not p["repaired"]]
    if remaining:
        hint = "" if repair else "; run with --repair to fix what can be fixed"
        raise Fail(f"fsck found {len(remaining)} problem(s){hint}")


@storage_group.command("gc")
@click.option("--grace-seconds", default=DEFAULT_GRACE_SECONDS, show_default=True, type=click.IntRange(0),
              help="Only delete blobs unreferenced for at least this long.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def gc_command(ctx: click.Context, grace_seconds: int, as_json: bool) -> None:
    """Delete blobs that no attachment has referenced for the grace period."""
    _st, service = _service(ctx)
    report = service.gc(grace_seconds)
    echo_result({"deleted": report.deleted, "bytes_freed": report.bytes_freed, "kept": report.kept,
                 "errors": report.errors}, as_json,
                [f"deleted {report.deleted} blobs ({human_size(report.bytes_freed)}), kept {report.kept}"])
    if report.errors:
        raise Fail(f"{len(report.errors)} blob(s) could not be deleted (first: {report.errors[0]}); run gc again")


@storage_group.command("usage")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def usage_command(ctx: click.Context, as_json: bool) -> None:
    """Disk usage from the database (no scan of the store)."""
    _st, service = _service(ctx)
    usage = service.usage()
    echo_result(usage, as_json, (f"{key:<20} {human_size(value) if key.startswith('bytes_') else value}"
                                 for key, value in usage.items()))


@storage_group.command("migrate")
@click.option("--to", "to_name", required=True, help="Target backend name (its plugin must be enabled).")
@click.option("--from", "from_name", default=None, help="Source backend (default: the current [storage] backend).")
@click.option("--no-switch", is_flag=True, help="Copy only; leave [storage] backend as it is.")
@click.option("--verify-existing", is_flag=True, help="Re-hash blobs already on the target instead of trusting size.")
@click.pass_context
def migrate_command(ctx: click.Context, to_name: str, from_name: str | None, no_switch: bool,
                    verify_existing: bool) -> None:
    """Copy every blob to another backend, verify each on the other side, then switch. Resumable."""
    st, service = _service(ctx)
    current = st.settings.get("storage", "backend")
    from_name = from_name or current
    for name in (to_name, from_name):
        if name not in st.storages:
            raise Fail(f"backend {name!r} is not provided by an enabled plugin (enabled backends: "
                       f"{', '.join(sorted(st.storages)) or 'none'}); add the plugin that provides it to "
                       "[plugins] enabled, with its [plugins.NAME] table")
    if to_name == from_name:
        raise Fail(f"source and target are both {to_name!r}; use --from to name the old backend")
    target = st.storages[to_name]
    try:
        target.check()
    except Exception as exc:
        raise Fail(f"target backend {to_name!r} is not usable: {exc}") from None
    last = [0]

    def progress(done: int, total: int) -> None:
        if done == total or done - last[0] >= 100:
            last[0] = done
            click.echo(f"  {done}/{total} blobs", err=True)

    report = migrate(service, st.storages[from_name], target, verify_existing=verify_existing, progress=progress)
    click.echo(f"copied {report.copied} blobs ({human_size(report.bytes_copied)}), {report.present} already there, "
               f"{len(report.errors)} errors")
    for error in report.errors[:20]:
        click.echo(f"  {error}", err=True)
    if report.errors:
        raise Fail(f"{len(report.errors)} blob(s) not copied; fix them and run the same command again (it resumes)")
    _switch(st, to_name, current, no_switch)


def _switch(st: AppState, to_name: str, current: str, no_switch: bool) -> None:
    if no_switch or current == to_name:
        return
    change = f'[storage] backend = "{to_name}"'
    source = st.settings.source
    if os.environ.get("PLUGDESK_STORAGE_BACKEND"):
        click.echo(f"PLUGDESK_STORAGE_BACKEND is set in the environment; set it to {to_name} ({change}) and "
                   "restart plugdesk.")
    elif source is None or not Path(source).is_file():
        click.echo(f"No config file to edit: set {change} and restart plugdesk.")
    else:
        switch_backend(Path(source), to_name)
        click.echo(f"switched {source}: {change}")
    click.echo(f"Restart every plugdesk node, then run `plugdesk storage migrate --from {current} --to {to_name}` "
               "once more to copy files uploaded in the meantime.")
