"""Alembic, driven programmatically (``plugdesk db upgrade``, ``plugdesk init``, tests).

Core's revisions live in ``core/migrations/versions``. A plugin that owns tables names its own directory
through the ``plugin_migrations`` hook; each such directory is one more Alembic branch (``version_locations``)
and ``upgrade`` applies every head. Alembic is imported when a migration runs, not when the app starts
(a serving worker never needs it; it is most of a worker's memory otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config

    from core.plugins import PluginHost
    from core.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # Alembic's config is a ConfigParser with interpolation


def alembic_config(url: str, locations: Sequence[str] = ()) -> Config:
    """An Alembic config pointing at core's migrations, the plugins' ``locations`` and ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _escape(str(MIGRATIONS)))
    cfg.set_main_option("sqlalchemy.url", _escape(url))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations",
                        _escape(os.pathsep.join([str(MIGRATIONS / "versions"), *map(str, locations)])))
    return cfg


def plugin_locations(host: PluginHost) -> list[str]:
    """The migration directories the enabled plugins name (``plugin_migrations``), in chain order.

    :raises core.plugins.StartupError: when a plugin names something that is not a directory.
    """
    from core.plugins import StartupError

    found = []
    for plugin, result in host.each("plugin_migrations"):
        if result is None:
            continue
        path = Path(result)
        if not path.is_absolute() or not path.is_dir():
            raise StartupError(f"plugin {plugin!r}: plugin_migrations returned {str(result)!r}, which is not an "
                               "absolute path of a directory; return the directory of its Alembic revisions")
        found.append(str(path))
    return found


def upgrade(url: str, revision: str = "heads", *, locations: Sequence[str] = ()) -> None:
    """Apply core's migrations (and those in the plugins' ``locations``) up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url, locations), revision)


def upgrade_all(settings: Settings, *, plugins: Mapping[str, object] | None = None) -> list[str]:
    """Apply core's migrations and those of every enabled plugin to ``[database] url``.

    :param plugins: extra plugin objects by name, as for :func:`core.app.create_app`.
    :return: the plugins' migration directories that were included.
    """
    from core.plugins import PluginHost

    locations = plugin_locations(PluginHost(settings, plugins))
    upgrade(settings.get("database", "url"), locations=locations)
    _build_search_index(settings.get("database", "url"))
    return locations


def _build_search_index(url: str) -> None:
    """Build or repair the ticket search index with the schema (:func:`core.tickets.search.ensure_index`): on
    a large SQLite database that takes seconds with the write lock held, no job for a web request."""
    from core.db import make_engine
    from core.tickets.search import ensure_index

    engine = make_engine(url)
    try:
        ensure_index(engine)
    finally:
        engine.dispose()


def upgrade_plugins(url: str, locations: Sequence[str]) -> None:
    """Apply only the plugins' migrations to a database whose core schema was created without Alembic.

    The test harness creates core's tables from the models; this marks core's revisions as applied and
    then runs the plugins' branches. Does nothing without ``locations``.
    """
    if not locations:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    core_heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    command.stamp(alembic_config(url), core_heads)
    upgrade(url, locations=locations)
