"""``plugdesk worker`` and ``plugdesk mail outbox list | retry | discard``."""

from __future__ import annotations

import getpass
import json

import click

from core.cli.shared import Fail, app_state


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due and run due jobs once, then exit (cron, tests).")
@click.option("--json", "as_json", is_flag=True, help="With --once: print what was done as JSON.")
@click.pass_context
def worker_command(ctx: click.Context, once: bool, as_json: bool) -> None:
    """Run the background worker: the mail outbox and the periodic jobs (retention, storage gc, ...).

    Run one on every node, or any number anywhere: rows are claimed so none is sent twice. `plugdesk serve`
    runs one itself unless [worker] embedded = false.
    """
    from core.outbox.delivery import deliver_now
    from core.worker.runner import Worker, stop_on_signals
    from core.worker.scheduler import run_due

    _app, st = app_state(ctx)
    if once:
        report = deliver_now(st)
        jobs = run_due(st, f"cli:{getpass.getuser()}")
        if as_json:
            click.echo(json.dumps({"sent": report.sent, "retrying": report.retrying, "failed": report.failed,
                                   "dropped": report.dropped, "jobs": [{"name": n, "status": s, "summary": m}
                                                                       for n, s, m in jobs]}, indent=2))
        else:
            click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
            for name, status, summary in jobs:
                click.echo(f"job {name}: {status}: {summary}")
        return
    worker = Worker(st)
    stop_on_signals(worker.stop)
    url = st.settings.get("mail", "url")
    where = "files in " + str(st.settings.data_dir / "outbox") if not url else url.split("@")[-1]
    click.echo(f"plugdesk worker {worker.id}: mail via {where}; stop with Ctrl-C or SIGTERM", err=True)
    worker.run()


@click.group("mail")
def mail_group() -> None:
    """Outgoing mail."""


@mail_group.group("outbox")
def outbox_group() -> None:
    """The mail outbox: queued, failed and recently sent messages."""


@outbox_group.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(["queued", "sending", "failed", "sent"]),
              help="Only these states (repeatable). Default: all; sent ones from the last 7 days.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
@click.pass_context
def list_command(ctx: click.Context, states: tuple[str, ...], limit: int, as_json: bool) -> None:
    """List messages, newest first (never their bodies)."""
    from core.outbox.admin import listing, message_json, outbox_counts

    _app, st = app_state(ctx)
    with st.db.session() as s:
        rows = [message_json(m) for m in listing(s, states or ("queued", "sending", "failed", "sent"), limit)]
    if as_json:
        click.echo(json.dumps({"counts": outbox_counts(st.db).as_dict(), "items": rows}, indent=2))
        return
    if not rows:
        click.echo("the outbox is empty")
    for r in rows:
        when = r["sent_at"] or r["next_attempt_at"] or r["created_at"]
        click.echo(f"{r['id']:>7}  {r['state']:<8} {r['attempts']:>2}x  {when}  {r['to'] or '-':<30}  "
                   f"{r['subject'][:50]}" + (f"  [{r['last_error'][:80]}]" if r["last_error"] else ""))


@outbox_group.command("retry")
@click.argument("message_id", required=False, type=click.IntRange(1))
@click.option("--all-failed", is_flag=True, help="Retry every failed message.")
@click.pass_context
def retry_command(ctx: click.Context, message_id: int | None, all_failed: bool) -> None:
    """Queue a failed message (or every failed one) for an attempt now, with a fresh retry window."""
    from core.outbox.admin import OutboxActionError, retry

    if (message_id is None) == (not all_failed):
        raise Fail("give a message ID or --all-failed (not both)")
    _app, st = app_state(ctx)
    try:
        ids = retry(st.db, None if all_failed or message_id is None else [message_id], actor=f"cli:{getpass.getuser()}",
                    give_up_hours=st.settings.get("worker", "give_up_hours"))
    except OutboxActionError as exc:
        raise Fail(str(exc)) from None
    click.echo(f"queued {len(ids)} message(s) for delivery")


@outbox_group.command("discard")
@click.argument("message_id", type=click.IntRange(1))
@click.pass_context
def discard_command(ctx: click.Context, message_id: int) -> None:
    """Give up on a failed or queued message."""
    from core.outbox.admin import OutboxActionError, discard

    _app, st = app_state(ctx)
    try:
        discard(st.db, message_id, actor=f"cli:{getpass.getuser()}")
    except OutboxActionError as exc:
        raise Fail(str(exc)) from None
    click.echo(f"discarded message {message_id}")
