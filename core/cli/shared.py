"""What every ``plugdesk`` sub-command module shares: the failure type, loading the configured app, and printing
a result either as text or, with ``--json``, as one JSON document.

Command modules (``core/cli/admin.py``, ``core/kb/cli.py``, ``core/tickets/cli.py``, ...) import from here,
never from :mod:`core.cli` itself, so no module imports the package that imports it (no import cycle).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from core.app_state import AppState


class Fail(click.ClickException):
    """A one-line failure (exit status 1), printed as ``plugdesk: reason`` on stderr."""

    def show(self, file: Any = None) -> None:
        """Print the reason on stderr (no usage text)."""
        click.echo(f"plugdesk: {self.format_message()}", err=True)


def load_app(ctx: click.Context) -> Flask:
    """The app configured by ``--config`` / ``PLUGDESK_CONFIG``; a bad configuration is a :class:`Fail`."""
    from core.app import create_app
    from core.plugins import StartupError
    from core.settings import ConfigError

    try:
        return create_app(ctx.obj["config"])
    except (ConfigError, StartupError) as exc:
        raise Fail(str(exc)) from None


def app_state(ctx: click.Context) -> tuple[Flask, AppState]:
    """The configured app and its :class:`core.app_state.AppState`."""
    from core.app_state import state

    app = load_app(ctx)
    return app, state(app)


def echo_result(data: Any, as_json: bool, lines: Iterable[str]) -> None:
    """Print a command's result: ``data`` as one indented JSON document with ``--json``, else each of ``lines``.

    Pass ``lines`` as a generator when building the text costs something: it is only consumed without ``--json``.
    """
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for line in lines:
        click.echo(line)
