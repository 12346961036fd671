"""``plugdesk backup create``: one archive with a consistent database snapshot and the blobs it references.

Consistency while the site serves traffic: the database snapshot is taken first (SQLite's online backup
API copies a consistent image in one step; PostgreSQL's ``pg_dump --snapshot`` dumps an exported
snapshot), and the list of blobs is read *from that same snapshot*. Uploads store their bytes before the
attachment row that references them is committed, and ``storage gc`` only deletes bytes that stayed
unreferenced for the grace period, so every blob the snapshot references is in the store while the
archive is written: every attachment row in the archive has its blob.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from core.ops.archive import BLOB_INDEX, FORMAT, FORMAT_VERSION, MANIFEST, SETTINGS, ArchiveWriter, blob_member
from core.ops.archive import sha256_file as _sha256
from core.types import BlobNotFound

PG_PACKAGE = "postgresql-client"


class BackupError(Exception):
    """The backup could not be written; ``str()`` is a one-line reason for the operator."""


@dataclass
class Snapshot:
    """A database image in a work directory plus what it says about blobs."""

    dialect: str
    path: Path
    member: str
    schema: list[str]
    blobs: list[tuple[str, int, int, str]] = field(default_factory=list)  # digest, size, references, state
    counts: dict[str, int] = field(default_factory=dict)
    server: str = ""
    tool: str = ""


def _facts(rows: Callable[[str], list[tuple[Any, ...]]]) -> tuple[list[str], list[tuple[str, int, int, str]],
                                                                   dict[str, int]]:
    schema = sorted(str(r[0]) for r in rows("SELECT version_num FROM alembic_version"))
    refs = {str(d): int(n) for d, n in rows("SELECT blob_digest, COUNT(*) FROM attachments GROUP BY blob_digest")}
    blobs = [(str(d), int(s), refs.get(str(d), 0), str(st)) for d, s, st in
             rows("SELECT digest, size, state FROM blobs ORDER BY digest")]
    counts = {"attachments": sum(refs.values())}
    for table in ("tickets", "ticket_messages", "users"):
        counts[table] = int(rows(f"SELECT COUNT(*) FROM {table}")[0][0])
    return schema, blobs, counts


def snapshot_sqlite(database: str, work: Path) -> Snapshot:
    """Copy a live SQLite database with the online backup API (one step: a consistent image)."""
    target = work / "plugdesk.db"
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        schema, blobs, counts = _facts(lambda sql: copy.execute(sql).fetchall())
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {database} failed: {exc}") from None
    finally:
        copy.close()
        source.close()
    return Snapshot("sqlite", target, "database/plugdesk.db", schema, blobs, counts,
                    server=f"SQLite {sqlite3.sqlite_version}", tool="sqlite3 online backup API")


def libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    """``pg_dump``/``pg_restore`` connection arguments for a SQLAlchemy URL; the password goes in the
    environment (``PGPASSWORD``), never on the command line."""
    parsed = make_url(url)
    args = []
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    for key, env_name in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if key in parsed.query:
            env[env_name] = str(parsed.query[key])
    return args + ["--dbname", parsed.database or "postgres"], env


def pg_tool(name: str, server: str = "") -> str:
    """The path of ``pg_dump``/``pg_restore``; :class:`BackupError` naming the Debian package when missing."""
    path = shutil.which(name)
    if path is None:
        need = f" (major version {server.split('.')[0]} or newer, like the server)" if server else ""
        raise BackupError(f"{name} was not found on this machine: install the Debian package {PG_PACKAGE}{need}, "
                          f"e.g. `apt-get install {PG_PACKAGE}`")
    return path


def snapshot_postgres(url: str, work: Path) -> Snapshot:
    """``pg_dump -Fc`` of an exported snapshot; the blob list is read in that same snapshot."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    parsed = make_url(url)
    conninfo: dict[str, Any] = {"host": parsed.host, "port": parsed.port, "user": parsed.username,
                                "dbname": parsed.database, "password": parsed.password,
                                **{k: v for k, v in parsed.query.items() if isinstance(v, str)}}
    target = work / "plugdesk.pgdump"
    try:
        conn = psycopg.connect(make_conninfo("", **{k: v for k, v in conninfo.items() if v is not None}),
                               autocommit=True)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to PostgreSQL: {exc}".strip()) from None
    with conn:
        server = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
        dump = pg_tool("pg_dump", server)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        args, env = libpq_args(url)
        done = subprocess.run([dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                               "--file", str(target), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BackupError(f"pg_dump failed: {reason} (the {PG_PACKAGE} major version must be at least the "
                              f"server's, {server})")
        schema, blobs, counts = _facts(lambda sql: conn.execute(sql).fetchall())
        conn.execute("COMMIT")
    tool = subprocess.run([dump, "--version"], capture_output=True, text=True).stdout.strip()
    return Snapshot("postgresql", target, "database/plugdesk.pgdump", schema, blobs, counts,
                    server=f"PostgreSQL {server}", tool=tool)


def _included(snapshot: Snapshot) -> list[tuple[str, int, bool]]:
    """Blobs the archive lists: those the snapshot's attachments reference. Unreferenced blobs (garbage for
    ``storage gc``, or uploads that had not been attached when the snapshot was taken) are left out; restore
    drops their rows."""
    return [(digest, size, True) for digest, size, refs, _state in snapshot.blobs if refs > 0]


def _manifest(state: Any, snapshot: Snapshot, mode: str, files: dict[str, dict[str, Any]],
              blobs: list[tuple[str, int, bool]]) -> dict[str, Any]:
    from core import HOOKS_VERSION, __version__

    plugins = [{"name": i.name, "version": i.version, "distribution": i.distribution}
               for i in state.host.info.values()]
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "node": socket.gethostname(),
        "plugdesk_version": __version__, "hooks_version": HOOKS_VERSION, "python": platform.python_version(),
        "database": {"dialect": snapshot.dialect, "member": snapshot.member, "server": snapshot.server,
                     "tool": snapshot.tool, "schema": snapshot.schema},
        "storage": {"backend": state.settings.get("storage", "backend"), "blobs": mode,
                    "count": len(blobs), "bytes": sum(b[1] for b in blobs)},
        "plugins": plugins, "counts": snapshot.counts, "files": files,
    }


def create_backup(state: Any, target: Path, *, blobs: str = "include",
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write a backup archive of ``state``'s database and blob store to ``target``.

    :param blobs: ``include`` (the bytes of every blob) or ``skip`` (only the list, for stores the provider
        backs up itself, such as a versioned S3 bucket).
    :param progress: ``progress(done_bytes, total_bytes)``.
    :raises BackupError: with the reason (missing ``pg_dump``, unreadable blob, ...).
    :return: a summary (path, sizes, counts, seconds, MiB/s).
    """
    if blobs not in ("include", "skip"):
        raise BackupError(f"--blobs {blobs!r}: expected include or skip")
    started = time.monotonic()
    store = state.storage
    if store is None and blobs == "include":
        raise BackupError(f"no storage backend {state.settings.get('storage', 'backend')!r} is enabled; enable its "
                          "plugin or use --blobs=skip")
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    url = state.settings.get("database", "url")
    with tempfile.TemporaryDirectory(prefix=".plugdesk-backup-", dir=target.parent) as tmp:
        work = Path(tmp)
        engine = state.db.engine
        if engine.dialect.name == "sqlite":
            snapshot = snapshot_sqlite(str(engine.url.database), work)
        elif engine.dialect.name == "postgresql":
            snapshot = snapshot_postgres(url, work)
        else:  # pragma: no cover - settings accept only these two
            raise BackupError(f"cannot back up a {engine.dialect.name} database")
        listed = _included(snapshot)
        index = "".join(f"{d}\t{s}\t{int(r)}\n" for d, s, r in listed).encode("ascii")
        settings_json = json.dumps(state.settings.redacted(), indent=2, sort_keys=True, default=str).encode()
        (work / "blobs.tsv").write_bytes(index)
        (work / "settings.json").write_bytes(settings_json)
        members = ((SETTINGS, work / "settings.json"), (BLOB_INDEX, work / "blobs.tsv"),
                   (snapshot.member, snapshot.path))
        files: dict[str, dict[str, Any]] = {name: {"sha256": _sha256(path), "size": path.stat().st_size}
                                            for name, path in members}
        manifest = _manifest(state, snapshot, blobs, files, listed)
        total = files[snapshot.member]["size"] + (manifest["storage"]["bytes"] if blobs == "include" else 0)
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        writer = ArchiveWriter(target, advance)
        try:
            writer.add_bytes(MANIFEST, json.dumps(manifest, indent=2).encode())
            writer.add_file(SETTINGS, work / "settings.json")
            writer.add_file(BLOB_INDEX, work / "blobs.tsv")
            writer.add_file(snapshot.member, snapshot.path)
            if blobs == "include":
                _add_blobs(writer, store, listed)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    seconds = time.monotonic() - started
    size = target.stat().st_size
    return {"path": str(target), "bytes": size, "seconds": round(seconds, 3),
            "mib_per_s": round(size / 1048576 / seconds, 1) if seconds else None,
            "database": snapshot.dialect, "schema": snapshot.schema, "blobs": blobs,
            "blob_count": len(listed), "blob_bytes": manifest["storage"]["bytes"], **snapshot.counts}


def _add_blobs(writer: ArchiveWriter, store: Any, listed: list[tuple[str, int, bool]]) -> None:
    local = getattr(store, "path", None)  # storage_fs: read the files directly
    for digest, size, _referenced in listed:
        try:
            if callable(local):
                writer.add_file(blob_member(digest), Path(local(digest)), size)
            else:
                writer.add_stream(blob_member(digest), store.open(digest), size)
        except (BlobNotFound, FileNotFoundError):
            raise BackupError(f"blob {digest}, referenced by attachments in the snapshot, is missing from the store; "
                              "run `plugdesk storage fsck` and take the backup again") from None
