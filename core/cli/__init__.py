"""The ``plugdesk`` command (click). Exit 0 on success; otherwise a one-line reason on stderr.

Layout (no module imports the package that imports it):

* :mod:`core.cli.shared` - :class:`Fail` and loading the configured app; every command module uses it.
* :mod:`core.cli.root` - the root group ``main`` with ``init``, ``serve`` and ``db upgrade``.
* :mod:`core.cli.admin` - ``users``, ``plugins`` and ``settings``.
* ``core/<feature>/cli.py`` - ``kb``, ``retention``, ``storage``, ``plugin``: next to what they manage.

``main`` (the console script ``plugdesk = "core.cli:main"``) is looked up lazily, so a command module may be
imported on its own (by a test, say) before this package is complete; the root group adds the other groups
the first time a command other than ``serve`` or ``init`` (or the command list) is asked for, so ``plugdesk
serve`` forks no CLI code into its workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.cli.shared import Fail as Fail

if TYPE_CHECKING:  # pragma: no cover
    import click

    main: click.Group

__all__ = ["Fail", "main"]


def __getattr__(name: str) -> Any:
    """``core.cli.main``: the root group with every command group added."""
    if name == "main":
        from core.cli.root import main as group  # a RootGroup: it adds the other groups when one is asked for

        globals()["main"] = group
        return group
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
