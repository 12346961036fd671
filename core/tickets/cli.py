"""``plugdesk retention run [--now ISO-8601] [--dry-run] [--json] [--wait]``."""

from __future__ import annotations

import json

import click

from core.cli.shared import Fail, app_state


@click.group("retention")
def retention_group() -> None:
    """Retention of tickets (per-department close, lock and delete rules)."""


@retention_group.command("run")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Evaluate the rules as of this moment (default: now). A value without zone is UTC.")
@click.option("--dry-run", is_flag=True, help="Report what would change, per department and action; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--wait", is_flag=True, help="Wait for the cluster lock instead of skipping when another node runs.")
@click.pass_context
def retention_run(ctx: click.Context, now_text: str | None, dry_run: bool, as_json: bool, wait: bool) -> None:
    """Run one retention pass; print counts closed / locked / deleted per department."""
    from core.retention import parse_now, run_retention

    try:
        now = parse_now(now_text)
    except ValueError as exc:
        raise Fail(str(exc)) from None
    _app, st = app_state(ctx)
    if not st.host.implementers("retention_sweep"):
        raise Fail("no enabled plugin implements retention_sweep; add a retention plugin to [plugins] enabled")
    try:
        result = run_retention(st, now, dry_run, wait=wait)
    except Exception as exc:
        raise Fail(f"retention run failed: {exc.__class__.__name__}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    if result.skipped:
        click.echo(f"skipped: {result.skipped}")
        return
    counts = result.counts()
    head = "would change (dry run)" if dry_run else "done"
    click.echo(f"retention as of {now.isoformat().replace('+00:00', 'Z')}: {head}")
    if not counts:
        click.echo("no department has a retention rule switched on")
    for name, row in sorted(counts.items()):
        click.echo(f"  {name}: closed {row.get('closed', 0)}, locked {row.get('locked', 0)}, "
                   f"deleted {row.get('deleted', 0)}")
