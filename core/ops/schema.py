"""Safe schema upgrades: where the database is, what the code knows, one migrating node at a time.

* :func:`status` compares the database's Alembic revision with this code's migrations: ``current``,
  ``behind`` (run ``plugdesk db upgrade``), ``ahead`` (a newer plugdesk migrated it: this code must not
  write) or ``empty``.
* :func:`upgrade_lock` is cluster-wide (:mod:`core.db_locks`): a PostgreSQL session advisory lock (released by
  the server if the process dies), or an exclusive ``flock`` on a file next to a SQLite database.
* :func:`safe_upgrade` takes the lock, re-reads the revision under it, refuses a newer database, prints
  the plan (``dry_run`` stops there) and applies it.
* :class:`WriteGuard` lets a node running older code answer 503 on writes once the schema moved past it.
"""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from core.db import make_engine
from core.db_locks import database_lock
from core.migrate import MIGRATIONS, alembic_config, upgrade
from core.tickets.search import ensure_index

if TYPE_CHECKING:  # pragma: no cover
    from alembic.script import Script, ScriptDirectory

LOCK_KEY = 0x706C_7570_6772  # "plupgr": the advisory lock id of schema upgrades
CURRENT, BEHIND, AHEAD, EMPTY = "current", "behind", "ahead", "empty"


class UpgradeRefused(RuntimeError):
    """The upgrade must not run (database newer than the code, or the lock is held); ``str()`` says why."""


@lru_cache(maxsize=8)
def _script(locations: tuple[str, ...] = ()) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://", locations))


def revision_graph(locations: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
    """Every revision of this code's migrations with its down revisions, read from the files' ``revision`` and
    ``down_revision`` assignments (:mod:`ast`, no Alembic import): what a serving process needs to notice a
    newer database, without the ~10 MiB of Alembic in every worker. Same revisions as
    :func:`known_revisions` (a test holds them equal)."""
    graph: dict[str, tuple[str, ...]] = {}
    for directory in (MIGRATIONS / "versions", *map(Path, locations)):
        for path in sorted(Path(directory).glob("*.py")):
            found: dict[str, object] = {}
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    targets, value = [node.target], node.value
                else:
                    continue
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                        try:
                            found[target.id] = ast.literal_eval(value)
                        except ValueError:
                            continue
            revision, down = found.get("revision"), found.get("down_revision")
            if isinstance(revision, str):
                downs = [down] if isinstance(down, str) else list(down) if isinstance(down, tuple | list) else []
                graph[revision] = tuple(d for d in downs if isinstance(d, str))
    return graph


def code_heads(locations: tuple[str, ...] = ()) -> set[str]:
    """The head revisions of this code's migrations (core's and the plugins' ``locations``)."""
    return set(_script(locations).get_heads())


def known_revisions(locations: tuple[str, ...] = ()) -> set[str]:
    """Every revision this code's migrations contain."""
    return {rev.revision for rev in _script(locations).walk_revisions()}


@lru_cache(maxsize=8)
def _graph(locations: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return revision_graph(locations)


def light_status(engine: Engine, locations: Sequence[str] = ()) -> SchemaStatus:
    """:func:`status` for serving processes (the write guard, ``/healthz``, ``/metrics``) without importing
    Alembic: the same state, revisions and heads; ``pending`` sorted by id rather than in upgrade order. The
    migrations are read once per process (the code it runs, not files a later install puts on disk)."""
    graph = _graph(tuple(locations))
    heads = tuple(sorted(set(graph) - {d for downs in graph.values() for d in downs}))
    revisions = db_revisions(engine)
    if not revisions:
        return SchemaStatus(EMPTY, (), heads, tuple(sorted(graph)))
    if revisions - set(graph):
        return SchemaStatus(AHEAD, tuple(sorted(revisions)), heads)
    done: set[str] = set()
    stack = list(revisions)
    while stack:
        rev = stack.pop()
        if rev not in done:
            done.add(rev)
            stack.extend(graph.get(rev, ()))
    pending = tuple(sorted(set(graph) - done))
    return SchemaStatus(BEHIND if pending else CURRENT, tuple(sorted(revisions)), heads, pending)


def db_revisions(engine: Engine) -> set[str]:
    """The revisions recorded in ``alembic_version`` (empty when the table does not exist)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database stands against this code."""

    state: str
    database: tuple[str, ...]
    code: tuple[str, ...]
    pending: tuple[str, ...] = field(default=())

    def revision(self) -> str:
        """The database revision(s) as one string (``"none"`` before the first migration)."""
        return ",".join(self.database) or "none"

    def refusal(self) -> str:
        """The operator's message when the database is newer than the code."""
        from core import __version__

        return (f"the database is at schema revision {self.revision()}, which this plugdesk {__version__} does not "
                f"know (its newest is {','.join(self.code)}): a newer plugdesk migrated it. Install that version "
                "(or newer) on this node; older code must not write to a newer schema")


def _ancestors(revisions: set[str], locations: tuple[str, ...]) -> set[str]:
    script, seen, stack = _script(locations), set(), list(revisions)
    while stack:
        rev = script.get_revision(stack.pop())
        if rev is None or rev.revision in seen:
            continue
        seen.add(rev.revision)
        down = rev.down_revision
        stack.extend((down,) if isinstance(down, str) else (down or ()))
    return seen


def status_of(revisions: set[str], locations: Sequence[str] = ()) -> SchemaStatus:
    """Classify a set of database revisions against this code (and the plugins' migration ``locations``)."""
    where = tuple(locations)
    code = tuple(sorted(code_heads(where)))
    if not revisions:
        return SchemaStatus(EMPTY, (), code, tuple(r.revision for r in plan_for(set(), where)))
    if revisions - known_revisions(where):
        return SchemaStatus(AHEAD, tuple(sorted(revisions)), code)
    pending = tuple(r.revision for r in plan_for(revisions, where))
    return SchemaStatus(BEHIND if pending else CURRENT, tuple(sorted(revisions)), code, pending)


def status(engine: Engine, locations: Sequence[str] = ()) -> SchemaStatus:
    """Where ``engine``'s database stands against this code."""
    return status_of(db_revisions(engine), locations)


def plan_for(revisions: set[str], locations: Sequence[str] = ()) -> list[Script]:
    """The migrations still to apply to a database at ``revisions``, oldest first."""
    where = tuple(locations)
    done = _ancestors(revisions, where)
    return [rev for rev in reversed(list(_script(where).walk_revisions())) if rev.revision not in done]


@contextmanager
def upgrade_lock(engine: Engine, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the cluster-wide upgrade lock; :class:`UpgradeRefused` after ``timeout`` seconds of waiting."""
    with database_lock(engine, LOCK_KEY, "upgrade", timeout=timeout, poll=poll) as got:
        if not got:
            raise UpgradeRefused(f"another node is upgrading the database (the upgrade lock is held); waited "
                                 f"{timeout:g} s")
        yield


def describe(revision: object) -> str:
    """One plan line: ``0006  Partial indexes on ...``."""
    doc = (getattr(revision, "doc", "") or "").strip().splitlines()
    return f"{getattr(revision, 'revision', '?')}  {doc[0] if doc else ''}".rstrip()


def safe_upgrade(url: str, *, locations: Sequence[str] = (), dry_run: bool = False, lock_timeout: float = 600.0,
                 echo: Callable[[str], None] = print) -> SchemaStatus:
    """``plugdesk db upgrade``: lock, check, print the plan, apply (unless ``dry_run``).

    :raises UpgradeRefused: the database is newer than the code, or the lock stayed held.
    :return: the status found under the lock (before applying anything).
    """
    engine = make_engine(url)
    try:
        with upgrade_lock(engine, timeout=lock_timeout):
            found = status(engine, locations)
            if found.state == AHEAD:
                raise UpgradeRefused(found.refusal())
            steps = plan_for(set(found.database), locations)
            if not steps:
                if not dry_run:
                    ensure_index(engine)  # the ticket search index, built or repaired (triggers)
                echo(f"database is up to date (schema revision {found.revision()})")
                return found
            echo(f"database at schema revision {found.revision()}; {len(steps)} migration(s) to apply:")
            for step in steps:
                echo(f"  {describe(step)}")
            if dry_run:
                echo("dry run: nothing was changed")
                return found
            upgrade(url, locations=locations)
            ensure_index(engine)
            echo(f"database upgraded to schema revision {','.join(sorted(db_revisions(engine)))}")
            return found
    finally:
        engine.dispose()


class WriteGuard:
    """Caches, per process, whether the database moved past this code (checked every ``ttl`` seconds)."""

    def __init__(self, engine: Engine, locations: Sequence[str] = (), ttl: float = 5.0) -> None:
        self.engine = engine
        self.locations = tuple(locations)
        # read the migrations now: the code this process runs, not files a later install puts on disk during a
        # rolling upgrade (without Alembic: see light_status)
        _graph(self.locations)
        self.ttl = ttl
        self._checked = -1e9
        self._message: str | None = None
        self._lock = threading.Lock()

    def refusal(self) -> str | None:
        """``None`` when writes may go ahead; otherwise the 503 message. A failing check lets writes pass
        (the database error will surface on its own)."""
        now = time.monotonic()
        if now - self._checked < self.ttl:
            return self._message
        with self._lock:
            if now - self._checked >= self.ttl:
                try:
                    found = light_status(self.engine, self.locations)
                    self._message = found.refusal() if found.state == AHEAD else None
                except Exception:
                    self._message = None
                self._checked = now
        return self._message
