"""``plugdesk kb``: knowledge base commands (``import-rss``)."""

from __future__ import annotations

import json

import click

from core.cli.shared import Fail, app_state


@click.group("kb")
def kb_group() -> None:
    """Knowledge base."""


@kb_group.command("import-rss")
@click.argument("source")
@click.option("--category", default=None, help="Put the articles in this category (created if missing).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_rss(ctx: click.Context, source: str, category: str | None, as_json: bool) -> None:
    """Import KB articles from the RSS feed in SOURCE (a file or an http(s) URL).

    Re-importing the same feed updates the articles it created (matched by guid), never duplicates them.
    """
    from core.kb.importer import FeedRefused, import_feed, read_source

    _app, st = app_state(ctx)
    try:
        report = import_feed(st, read_source(source), source=source, category=category)
    except FeedRefused as exc:
        raise Fail(f"import refused: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"{source} ({report.format}): created {report.created}, updated {report.updated} "
               f"({report.unchanged} unchanged), skipped {report.skipped}")
    for item in report.items:
        if item["action"] == "skipped":
            click.echo(f"  skipped item {item['item']} {item.get('title') or item.get('guid') or ''}: "
                       f"{item['reason']}")
        elif item.get("note"):
            click.echo(f"  note on item {item['item']} {item.get('title', '')}: {item['note']}")
