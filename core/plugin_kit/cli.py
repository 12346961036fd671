"""``plugdesk plugin new NAME [--area AREA] [--dir D]``: scaffold a third-party plugin package."""

from __future__ import annotations

import os

import click

from core.plugin_kit import templates
from core.plugin_kit.names import AREAS, InvalidPluginName
from core.plugin_kit.scaffold import ScaffoldError, scaffold


@click.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors (see docs/writing-plugins.md)."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--area", type=click.Choice(AREAS), default="other", show_default=True,
              help="Which hooks to implement; the tests run that area's contract suite.")
@click.option("--dir", "directory", type=click.Path(file_okay=True), default=None,
              help="Directory to create (default: ./plugdesk-NAME); must not exist.")
def plugin_new(name: str, area: str, directory: str | None) -> None:
    """Create a pip-installable package plugdesk-NAME (import name plugdesk_NAME) with failing contract tests."""
    from core.cli.shared import Fail

    try:
        made = scaffold(name, area, directory)
    except (InvalidPluginName, ScaffoldError) as exc:
        raise Fail(str(exc)) from None
    except OSError as exc:
        raise Fail(f"cannot create {directory or 'the package'}: {exc.strerror or exc}") from None
    click.echo(f"created {made.distribution} (plugin {made.name!r}, area {made.area}) in {made.root}")
    for path in made.files:
        click.echo(f"  {path.relative_to(made.root)}")
    install = templates.fill(templates.INSTALL, {"DIR": os.path.relpath(made.root)})
    click.echo(f"next: `{install}` (into plugdesk's environment), fill in the TODOs in {made.module}/__init__.py "
               f"until `pytest` passes there, then add {made.name!r} to [plugins] enabled in plugdesk.toml "
               "(docs/writing-plugins.md)")
