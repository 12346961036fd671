"""Fresh SQLite databases for test apps, fast: the schema is built once per process and copied.

Creating every table (``Base.metadata.create_all``) and running the plugins' migrations costs more than the
rest of a test app's setup. :func:`prepare_schema` builds a template database the first time it sees a
combination of tables and plugin migration directories, in a temporary directory removed at exit, and gives
every later app a byte copy of it. The result is the same schema the slow path creates; databases that are
not the harness's own SQLite file (PostgreSQL, a file that already exists) take the slow path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

_templates: dict[tuple[tuple[str, ...], tuple[str, ...]], Path] = {}
_workdir: list[Path] = []


def _create_schema(url: str, locations: list[str], engine: Any = None) -> None:
    """The slow path: every table from the models, then the plugins' own migrations."""
    from core.db import Base, make_engine
    from core.migrate import upgrade_plugins
    from core.model_registry import import_all_models

    import_all_models()  # every table, also of modules the app imports only on first use (e.g. the worker's)
    own = engine is None
    engine = engine if engine is not None else make_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        if own:
            engine.dispose()  # closes the last connection: SQLite folds the WAL into the file
    upgrade_plugins(url, locations)


def _template(key: tuple[tuple[str, ...], tuple[str, ...]]) -> Path:
    """The template database for ``(tables, plugin migration directories)``, built on first use."""
    if key not in _templates:
        if not _workdir:
            _workdir.append(Path(tempfile.mkdtemp(prefix="plugdesk-schema-")))
            atexit.register(shutil.rmtree, _workdir[0], True)
        path = _workdir[0] / f"template{len(_templates)}.db"
        _create_schema(f"sqlite:///{path}", list(key[1]))
        for suffix in ("-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():  # pragma: no cover - only if a connection was left open
                raise RuntimeError(f"schema template {path} still has a {suffix} file")
        _templates[key] = path
    return _templates[key]


def prepare_schema(state: Any, sqlite_file: Path) -> None:
    """Give a new test app its schema (core's tables and every enabled plugin's migrations).

    :param state: the app's ``app.extensions["plugdesk"]``, built but not yet connected to its database.
    :param sqlite_file: the SQLite file the harness configured; a copy of the template goes there when the
        app's ``[database] url`` still points at it and it does not exist yet.
    """
    from core.db import Base
    from core.migrate import plugin_locations
    from core.model_registry import import_all_models

    import_all_models()  # the template's key: the same tables whichever modules the tests imported so far
    url = state.settings.get("database", "url")
    locations = plugin_locations(state.host)
    if url != f"sqlite:///{sqlite_file}" or sqlite_file.exists():
        _create_schema(url, locations, state.db.engine)
        return
    template = _template((tuple(sorted(Base.metadata.tables)), tuple(locations)))
    shutil.copyfile(template, sqlite_file)
