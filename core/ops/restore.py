"""``plugdesk backup restore PATH --data-dir DIR``: an archive into an empty instance, verified first.

Order of work, so that nothing is half-restored from a bad archive:

1. read the manifest; refuse another format or a schema newer than this code (nothing written yet);
2. prepare the instance: ``DIR/plugdesk.toml`` as the operator wrote it (e.g. for PostgreSQL + S3), or one
   generated from the archived configuration (SQLite + files in ``DIR``; secrets were never archived: a
   new ``secret_key`` is generated and the names of other secrets to fill in are reported);
3. refuse a target database that already has tables;
4. extract every member while checking its SHA-256 against the manifest (blob names *are* their
   SHA-256); any mismatch, extra or missing member refuses the archive and removes what was staged;
5. load the database (file copy for SQLite, ``pg_restore`` for PostgreSQL), migrate it forward when it
   is older than the code, put the blobs into the store, drop rows of blobs the archive does not hold
   (nothing references them), and run ``storage fsck``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, inspect, select

from core.ops.archive import ArchiveError, extract_verified, read_manifest, to_toml
from core.ops.backup import BackupError, libpq_args, pg_tool
from core.ops.schema import AHEAD, BEHIND, safe_upgrade, status_of
from core.settings import EMBEDDED_STORAGE_PLUGIN, REDACTED

STAGING = ".restore-tmp"


class RestoreError(Exception):
    """The restore was refused or failed; ``str()`` is a one-line reason for the operator."""


def _generated_config(archived: dict[str, Any], dialect: str, database_url: str | None) -> tuple[str, list[str]]:
    """A ``plugdesk.toml`` for ``DIR`` from the archived (redacted) settings; returns it and the secrets
    that were not in the archive."""
    missing: list[str] = []

    def clean(table: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in table.items():
            if isinstance(value, dict):
                out[key] = clean(value, f"{prefix}.{key}")
            elif isinstance(value, str) and REDACTED in value:
                missing.append(f"{prefix}.{key}")
            else:
                out[key] = value
        return out

    config = {section: clean(dict(body), section) for section, body in archived.items() if isinstance(body, dict)}
    server = config.setdefault("server", {})
    server["data_dir"] = "."
    server["secret_key"] = {"$file": "secret_key"}
    missing = [m for m in missing if m not in ("server.secret_key", "database.url")]
    if database_url:
        config["database"] = {"url": database_url}
    elif dialect == "sqlite":
        config["database"] = {"url": "sqlite:///plugdesk.db"}
    else:
        raise RestoreError("this backup holds a PostgreSQL database: pass --database-url "
                           "postgresql+psycopg://USER@HOST/EMPTY_DB, or write DIR/plugdesk.toml first")
    plugins = config.setdefault("plugins", {})
    embedded = plugins.get(EMBEDDED_STORAGE_PLUGIN)
    if isinstance(embedded, dict):
        embedded.pop("path", None)  # the files go into DIR/files
        if not embedded:
            del plugins[EMBEDDED_STORAGE_PLUGIN]
    return "# plugdesk configuration restored from a backup. Reference: docs/configuration.md\n" + to_toml(config), \
        missing


def _prepare(data_dir: Path, manifest: dict[str, Any], staging: Path, archive: Path,
             database_url: str | None) -> tuple[Path, list[str], list[Path]]:
    """Use or write ``DIR/plugdesk.toml``; returns it, the secrets to fill in, and the files created."""
    config = data_dir / "plugdesk.toml"
    if config.exists():
        if database_url:
            raise RestoreError(f"{config} exists: set [database] url there instead of --database-url")
        return config, [], []
    if data_dir.exists() and any(data_dir.iterdir()):
        raise RestoreError(f"{data_dir} is not empty: restore into a new directory, or one holding only the "
                           "plugdesk.toml of the new instance")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = [config, data_dir / "secret_key"]
    settings = _read_member(archive, "config/settings.json", manifest, staging)
    text, missing = _generated_config(settings, manifest["database"]["dialect"], database_url)
    (data_dir / "secret_key").write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    os.chmod(data_dir / "secret_key", 0o600)
    config.write_text(text, encoding="utf-8")
    os.chmod(config, 0o600)
    return config, missing, created


def _read_member(archive: Path, name: str, manifest: dict[str, Any], staging: Path) -> dict[str, Any]:
    """One small member, checked against its checksum (the full check follows during extraction)."""
    import hashlib
    import tarfile

    with tarfile.open(archive, "r:") as tar:
        try:
            stream = tar.extractfile(name)
        except KeyError:
            raise RestoreError(f"the archive is incomplete: {name} missing") from None
        data = stream.read() if stream else b""
    spec = manifest.get("files", {}).get(name, {})
    if hashlib.sha256(data).hexdigest() != spec.get("sha256"):
        raise RestoreError(f"the archive was changed after it was written (or is damaged): {name} does not match "
                           "its checksum in the manifest")
    return json.loads(data)


def _load_database(st: Any, manifest: dict[str, Any], staged: Path) -> None:
    engine = st.db.engine
    dialect = manifest["database"]["dialect"]
    if engine.dialect.name != dialect:
        raise RestoreError(f"this backup holds a {dialect} database but [database] url is {engine.dialect.name}: "
                           "restore into the same kind of database")
    st.db.dispose()  # and the threads' read connections (core.read_connections)
    if dialect == "sqlite":
        target = Path(str(engine.url.database))
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)  # checked empty before
        shutil.move(str(staged), target)
        os.chmod(target, 0o600)
        return
    try:
        tool = pg_tool("pg_restore", manifest["database"].get("server", "").replace("PostgreSQL ", ""))
    except BackupError as exc:
        raise RestoreError(str(exc)) from None
    args, env = libpq_args(st.settings.get("database", "url"))
    done = subprocess.run([tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                           *args, str(staged)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RestoreError(f"pg_restore failed: {reason}")


def _drop_absent_blob_rows(st: Any, index: dict[str, tuple[int, bool]]) -> int:
    """Delete rows of blobs whose bytes are not in the archive and that no attachment references."""
    from core.files.models import Attachment, Blob

    with st.db.session() as s:
        rows = set(s.scalars(select(Blob.digest)))
        absent = sorted(rows - set(index))
        dropped = 0
        for start in range(0, len(absent), 500):
            batch = absent[start:start + 500]
            result = s.execute(delete(Blob).where(Blob.digest.in_(batch),
                                                  ~exists().where(Attachment.blob_digest == Blob.digest)))
            dropped += result.rowcount or 0
    return dropped


def restore_backup(archive: Path, data_dir: Path, *, database_url: str | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Restore ``archive`` into the empty instance at ``data_dir``; see the module docstring.

    :raises RestoreError: refused (newer schema, tampered or incomplete archive, non-empty target) or failed.
    :return: a summary including the ``fsck`` report.
    """
    started = time.monotonic()
    archive, data_dir = Path(archive).resolve(), Path(data_dir).resolve()
    try:
        manifest = read_manifest(archive)
    except ArchiveError as exc:
        raise RestoreError(str(exc)) from None
    staging = data_dir / STAGING
    config, missing, created = _prepare(data_dir, manifest, staging, archive, database_url)
    blob_dir: Path | None = None
    try:
        from core.app import create_app
        from core.app_state import state
        from core.migrate import plugin_locations

        st = state(create_app(config))
        locations = plugin_locations(st.host)
        found = status_of(set(manifest["database"]["schema"]), locations)
        if found.state == AHEAD:
            raise RestoreError(f"the backup's schema revision {found.revision()} is newer than this plugdesk knows "
                               f"({','.join(found.code)}); it was written by plugdesk "
                               f"{manifest.get('plugdesk_version')}: restore it with that version or newer")
        tables = inspect(st.db.engine).get_table_names()
        if tables:
            raise RestoreError(f"the target database already has {len(tables)} table(s): restore needs an empty "
                               "database (create a new one, or use a new --data-dir)")
        store = st.storage
        if store is None:
            raise RestoreError(f"no storage backend {st.settings.get('storage', 'backend')!r} is enabled in {config}")
        blob_dir = (store.temp_dir() or staging / "blobs")
        total = sum(int(v.get("size", 0)) for v in manifest.get("files", {}).values()) + \
            (manifest["storage"]["bytes"] if manifest["storage"]["blobs"] == "include" else 0)
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        index = extract_verified(archive, manifest, staging, blob_dir, advance)
        _load_database(st, manifest, staging / manifest["database"]["member"])
        if found.state == BEHIND:
            safe_upgrade(st.settings.get("database", "url"), locations=locations, echo=echo)
        restored, absent = _put_blobs(store, index, blob_dir, manifest["storage"]["blobs"] == "include")
        dropped = _drop_absent_blob_rows(st, index)
    except (ArchiveError, BackupError) as exc:
        _cleanup(data_dir, staging, blob_dir, bool(created))
        raise RestoreError(str(exc)) from None
    except BaseException:
        _cleanup(data_dir, staging, blob_dir, bool(created))
        raise
    shutil.rmtree(staging, ignore_errors=True)
    from core.files.fsck import fsck
    from core.files.service import file_service

    report = fsck(file_service(st), verify=True)
    return {"data_dir": str(data_dir), "config": str(config), "database": manifest["database"]["dialect"],
            "schema_archived": manifest["database"]["schema"], "schema_now": list(found.code),
            "migrated": found.state == BEHIND, "blobs_restored": restored, "blobs_missing": absent,
            "blob_rows_dropped": dropped, "secrets_to_set": missing, "fsck_problems": report["problems"],
            "attachments": report["attachments"], "seconds": round(time.monotonic() - started, 3)}


def _put_blobs(store: Any, index: dict[str, tuple[int, bool]], blob_dir: Path, included: bool) -> tuple[int, int]:
    """Store every extracted blob (linked into place where the backend allows); with ``--blobs=skip`` archives,
    count referenced blobs the store does not hold."""
    restored = absent = 0
    for digest, (size, referenced) in index.items():
        if included:
            path = blob_dir / f"restore-{digest}.tmp"
            store.put_file(digest, path, size)
            path.unlink(missing_ok=True)
            restored += 1
        elif referenced and store.size(digest) != size:
            absent += 1
    return restored, absent


def _cleanup(data_dir: Path, staging: Path, blob_dir: Path | None, wipe: bool) -> None:
    """Remove what a failed restore staged; with ``wipe`` (the directory was empty before), everything."""
    shutil.rmtree(staging, ignore_errors=True)
    if blob_dir is not None and blob_dir.exists():
        for leftover in blob_dir.glob("restore-*.tmp"):
            leftover.unlink(missing_ok=True)
    if wipe:
        for entry in data_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
