"""``storage fsck`` (check and repair) and ``storage migrate`` (copy between backends, verified)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import tomlkit
from sqlalchemy import delete, func, select, update

from core.db import rowcount
from core.files.models import DELETING, PENDING, STORED, Attachment, Blob
from core.files.service import DEFAULT_GRACE_SECONDS, FileService
from core.models import utcnow
from core.types import BlobNotFound, BlobStore, StorageError


@dataclass
class Problem:
    """One finding of ``fsck``: ``kind`` is orphan | missing | wrong_count | size_mismatch | hash_mismatch."""

    kind: str
    digest: str
    detail: str
    repaired: bool = False


def _hash(store: BlobStore, digest: str) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    for chunk in store.open(digest):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def fsck(service: FileService, *, repair: bool = False, verify: bool = True,
         grace_seconds: int = DEFAULT_GRACE_SECONDS) -> dict[str, Any]:
    """Compare the database with the blob store; with ``repair``, fix what can be fixed.

    Finds orphans (bytes without a row: deleted), missing blobs (rows without bytes: unreferenced rows
    are dropped, referenced ones reported), wrong reference counts (recounted under the row lock) and,
    with ``verify``, size and SHA-256 mismatches (the corrupt bytes are deleted on repair so the next
    upload of that content stores it again). Rows of uploads still in flight (``pending`` within the
    grace period) and blobs being collected are not problems.

    :return: ``blobs``, ``attachments``, ``bytes_stored``, ``bytes_saved``, ``problems`` (list of dicts),
        ``repaired`` (count).
    """
    store, db = service.store, service.db
    young = utcnow() - timedelta(seconds=grace_seconds)
    problems: list[Problem] = []
    with db.session() as s:
        rows = {d: (size, ref, state, zero) for d, size, ref, state, zero in
                s.execute(select(Blob.digest, Blob.size, Blob.refcount, Blob.state, Blob.zero_since))}
        counts = dict(s.execute(select(Attachment.blob_digest, func.count()).group_by(Attachment.blob_digest)).all())
    stored = set(store.iter_digests())

    for digest in sorted(stored - rows.keys()):
        problem = Problem("orphan", digest, "stored bytes without a blob row")
        if repair:
            with db.session() as s:
                if s.get(Blob, digest) is None:
                    store.delete(digest)
                    problem.repaired = True
        problems.append(problem)

    for digest, (size, refcount, state, zero_since) in sorted(rows.items()):
        actual = counts.get(digest, 0)
        if refcount != actual:
            problem = Problem("wrong_count", digest, f"refcount {refcount}, {actual} attachments")
            if repair:
                problem.repaired = _recount(service, digest)
            problems.append(problem)
        if state == DELETING or (state == PENDING and actual == 0 and zero_since and zero_since > young):
            continue  # being collected, or an upload in flight
        if digest not in stored:
            problems.append(_missing(service, digest, actual, repair))
            continue
        if verify:
            real_size = store.size(digest)
            kind, detail = "", ""
            if real_size != size:
                kind, detail = "size_mismatch", f"row says {size} bytes, store has {real_size}"
            else:
                real_digest, _n = _hash(store, digest)
                if real_digest != digest:
                    kind, detail = "hash_mismatch", f"stored bytes hash to {real_digest}"
            if kind:
                problem = Problem(kind, digest, detail + (f"; {actual} attachments affected" if actual else ""))
                if repair:
                    store.delete(digest)  # corrupt: the next upload of this content stores it again
                    problem.repaired = actual == 0 and _drop_unreferenced(service, digest)
                problems.append(problem)
    usage = service.usage()
    return {"blobs": usage["blobs"], "attachments": usage["attachments"], "bytes_stored": usage["bytes_stored"],
            "bytes_saved": usage["bytes_saved"], "problems": [asdict(p) for p in problems],
            "repaired": sum(p.repaired for p in problems)}


def _recount(service: FileService, digest: str) -> bool:
    with service.db.session() as s:
        if s.execute(select(Blob.digest).where(Blob.digest == digest).with_for_update()).first() is None:
            return False
        actual = s.scalar(select(func.count()).where(Attachment.blob_digest == digest)) or 0
        values: dict[str, Any] = {"refcount": actual, "zero_since": None if actual else utcnow()}
        if actual:
            values["state"] = STORED
        s.execute(update(Blob).where(Blob.digest == digest).values(**values))
    return True


def _drop_unreferenced(service: FileService, digest: str) -> bool:
    with service.db.session() as s:
        gone = s.execute(delete(Blob).where(Blob.digest == digest, Blob.refcount <= 0,
                                            ~select(Attachment.id).where(Attachment.blob_digest == digest)
                                            .exists()))
    return rowcount(gone) == 1


def _missing(service: FileService, digest: str, references: int, repair: bool) -> Problem:
    if references:
        return Problem("missing", digest, f"bytes are missing; {references} attachments reference them "
                                          "(restore them from a backup or `storage migrate --from` the old store)")
    problem = Problem("missing", digest, "bytes are missing; no attachment references them")
    if repair:
        problem.repaired = _drop_unreferenced(service, digest)
    return problem


# ----------------------------------------------------------------------------- migrate


@dataclass
class MigrateReport:
    """Counts of one ``storage migrate`` run."""

    copied: int = 0
    present: int = 0
    bytes_copied: int = 0
    errors: list[str] = field(default_factory=list)


def copy_blob(source: BlobStore, target: BlobStore, digest: str, size: int, temp_root: Path) -> None:
    """Copy one blob through a temp file, checking its SHA-256 on the way in and again on the other side.

    :raises StorageError: the source bytes are corrupt or the copy does not read back identically.
    """
    directory = target.temp_dir() or temp_root
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(prefix="migrate-", suffix=".tmp", dir=directory)
    path = Path(name)
    try:
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in source.open(digest):
                sha.update(chunk)
                out.write(chunk)
        if sha.hexdigest() != digest:
            raise StorageError(f"{digest}: the source bytes hash to {sha.hexdigest()}; not copied")
        target.put_file(digest, path, size)
    finally:
        path.unlink(missing_ok=True)
    copied_digest, copied_size = _hash(target, digest)
    if copied_digest != digest or copied_size != size:
        target.delete(digest)
        raise StorageError(f"{digest}: the copy reads back as {copied_digest} ({copied_size} bytes); removed it")


def migrate(service: FileService, source: BlobStore, target: BlobStore, *, verify_existing: bool = False,
            progress: Callable[[int, int], None] | None = None) -> MigrateReport:
    """Copy every blob the database knows from ``source`` to ``target``; resumable.

    A blob already on the target with the right size counts as done (``verify_existing`` re-hashes it).
    """
    report = MigrateReport()
    with service.db.session() as s:
        blobs = s.execute(select(Blob.digest, Blob.size).where(Blob.state != DELETING).order_by(Blob.digest)).all()
    for number, (digest, size) in enumerate(blobs, 1):
        try:
            if target.size(digest) == size and (not verify_existing or _hash(target, digest)[0] == digest):
                report.present += 1
            else:
                copy_blob(source, target, digest, size, service.temp_root)
                report.copied += 1
                report.bytes_copied += size
        except BlobNotFound:
            report.errors.append(f"{digest}: missing from the source store")
        except StorageError as exc:
            report.errors.append(str(exc))
        if progress:
            progress(number, len(blobs))
    return report


def switch_backend(config_path: Path, name: str) -> bool:
    """Set ``[storage] backend = "name"`` in ``config_path``, keeping everything else (comments, order,
    formatting) as it was; the file is replaced atomically with its permissions. True if written."""
    document = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    storage = document.get("storage")
    if storage is None:
        storage = tomlkit.table()
        document["storage"] = storage
    elif not isinstance(storage, MutableMapping):
        raise ValueError(f"{config_path}: 'storage' is not a table")
    storage["backend"] = name
    text = tomlkit.dumps(document)
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, config_path.stat().st_mode & 0o777)
    os.replace(tmp, config_path)
    return True
