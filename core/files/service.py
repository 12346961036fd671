"""The blob service: streaming SHA-256 ingest, reference counting and garbage collection.

Lifecycle of a blob row (``blobs.state``), race-free against ``gc`` without long database locks:

1. **ingest** (no caller transaction): the upload is streamed to a temp file through SHA-256; a short
   transaction then *leases* the blob row (inserts it as ``pending`` with ``zero_since = now``, or
   refreshes ``zero_since`` / rescues a ``deleting`` row), and only then are the bytes handed to the
   backend. Every byte a live upload writes therefore has a row that ``gc`` will not touch for the
   grace period.
2. **attach** (inside the caller's transaction, with the owner row): a conditional ``UPDATE`` takes the
   reference (``refcount + 1``, ``stored``) and holds the row lock until the caller commits. If the row is
   ``deleting`` or gone - ``gc`` won a race - the row is locked and the bytes are stored again from the
   upload's temp file before the reference is taken: the upload never loses its bytes.
3. **detach** (inside the deleting transaction): ``refcount - n``; at zero, ``zero_since = now``.
4. **gc**: claims blobs at zero references whose grace period has passed (``deleting``, committed), then
   per blob re-checks under the row lock, deletes the row and the bytes, and commits.

A crash between writing bytes and taking the reference leaves a ``pending`` row at zero references,
which ``gc`` removes after the grace period.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.db import Database, rowcount, table_of
from core.files.hashcopy import copy_hashed, too_large
from core.files.models import DELETING, PENDING, STORED, Attachment, Blob
from core.files.rules import UploadRejected, check_content, display_name, extension, extension_allowed
from core.files.spool import HashingSpool
from core.models import utcnow
from core.types import BlobStore, StorageError

log = logging.getLogger("plugdesk.files")
DEFAULT_GRACE_SECONDS = 3600
BLOBS = table_of(Blob)


def human_size(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"`` (exact bytes below 1 KiB)."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    return f"{n} bytes"  # pragma: no cover


@dataclass
class StagedUpload:
    """Bytes that are hashed, checked and stored, waiting to be attached to an owner.

    Keep it until :meth:`FileService.attach` returned (it may need the temp file to store the bytes
    again), then call :meth:`cleanup` (or use it as a context manager).
    """

    digest: str
    size: int
    filename: str
    content_type: str
    path: Path | None = None

    def cleanup(self) -> None:
        """Delete the temp file (idempotent)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> StagedUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@dataclass
class GcReport:
    """What one ``gc`` pass did."""

    deleted: int = 0
    bytes_freed: int = 0
    kept: int = 0
    errors: list[str] = field(default_factory=list)


def _insert_ignore(session: Session, **values: Any) -> bool:
    """Insert a blob row unless its digest exists; True if inserted. Never poisons the transaction."""
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(BLOBS).values(**values).on_conflict_do_nothing(index_elements=["digest"])
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(BLOBS).values(**values).on_conflict_do_nothing(index_elements=["digest"])
    else:  # pragma: no cover - other databases: a savepoint keeps the outer transaction usable
        from sqlalchemy.exc import IntegrityError

        try:
            with session.begin_nested():
                session.add(Blob(**values))
            return True
        except IntegrityError:
            return False
    # Core statement on the table with RETURNING: the ORM's rowcount for inserts is not reliable on every driver.
    return session.execute(stmt.returning(BLOBS.c.digest)).first() is not None


class FileService:
    """Core's file mechanism over one blob store. Get the app's instance with :func:`file_service`."""

    def __init__(self, db: Database, store: BlobStore, temp_root: Path) -> None:
        self.db = db
        self.store = store
        self.temp_root = temp_root

    # ------------------------------------------------------------------ ingest
    def _temp_file(self) -> tuple[int, Path]:
        directory = self.store.temp_dir() or self.temp_root
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".tmp", dir=directory)
        return fd, Path(name)

    def spool(self) -> HashingSpool:
        """A temp file for a form's file part that :meth:`ingest` can take over without copying it."""
        fd, path = self._temp_file()
        return HashingSpool(fd, path, self)

    def ingest(self, stream: IO[bytes], filename: str | None, *, allowed_extensions: list[str] | None = None,
               max_bytes: int | None = None, store: bool = True) -> StagedUpload:
        """Stream ``stream`` through SHA-256 into a temp file, check it, and store the bytes (or not: ``store``).

        Memory stays flat whatever the size: 1 MiB is read at a time into one buffer
        (:func:`core.files.hashcopy.copy_hashed`). The rules are applied while streaming: the name
        (:func:`core.files.rules.display_name`), the extension allow-list, the content signature of the first
        4 KiB and ``max_bytes``; a refusal raises :class:`UploadRejected` and leaves nothing behind.

        :param allowed_extensions: a ``security.uploads.*`` list; ``None`` skips the extension check.
        :param max_bytes: the per-file limit (``None`` = unlimited).
        :param store: ``False`` keeps the bytes in the temp file until :func:`core.files.batch.store_many`.
        :raises UploadRejected: the upload breaks a rule (400, 413, 415).
        :raises StorageError: the backend failed (no row is left behind).
        """
        name = display_name(filename)
        ext = extension(name)
        if allowed_extensions is not None and not extension_allowed(ext, allowed_extensions):
            allowed = ", ".join(allowed_extensions) or "none"
            raise UploadRejected(415, f"Files of type {ext or '(no extension)'} are not allowed ({name!r}). "
                                      f"Allowed: {allowed}.")
        adopted = stream.adopt(self) if isinstance(stream, HashingSpool) else None
        if adopted is not None:  # written and hashed once, as the form was parsed (core.files.spool)
            digest, size, head, path = adopted
            try:
                if max_bytes is not None and size > max_bytes:
                    raise too_large(name, max_bytes)
                content_type = self._check(name, head)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        else:
            fd, path = self._temp_file()
            try:
                digest, size, content_type = self._copy(stream, fd, name, max_bytes)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        staged = StagedUpload(digest, size, name, content_type, path)
        try:
            if store:
                self.store_staged(staged)
        except BaseException:
            staged.cleanup()
            raise
        return staged

    def _copy(self, stream: IO[bytes], fd: int, name: str, max_bytes: int | None) -> tuple[str, int, str]:
        with os.fdopen(fd, "wb", buffering=0) as out:
            return copy_hashed(stream, out.fileno(), name, max_bytes, self._check)

    @staticmethod
    def _check(name: str, head: bytes) -> str:
        verdict = check_content(name, head)
        if verdict.problem:
            raise UploadRejected(415, verdict.problem)
        return verdict.content_type

    def store_staged(self, staged: StagedUpload) -> None:
        """Lease the blob row, then write the bytes to the backend (idempotent; a dedup hit is cheap)."""
        assert staged.path is not None
        self._lease(staged.digest, staged.size)
        try:
            self.store.put_file(staged.digest, staged.path, staged.size)
        except BaseException:
            self._drop_lease(staged.digest)
            raise

    def _lease(self, digest: str, size: int) -> None:
        for _attempt in range(5):
            now = utcnow()
            with self.db.session() as s:
                if _insert_ignore(s, digest=digest, size=size, refcount=0, state=PENDING, created_at=now,
                                  zero_since=now):
                    return
                refreshed = s.execute(update(Blob).where(Blob.digest == digest, Blob.refcount == 0).values(
                    zero_since=now, state=case((Blob.state == DELETING, PENDING), else_=Blob.state)))
                if rowcount(refreshed) == 1 or s.get(Blob, digest) is not None:
                    return
        raise StorageError(f"could not register blob {digest[:12]}… (it kept disappearing)")

    def _drop_lease(self, digest: str) -> None:
        try:
            with self.db.session() as s:
                s.execute(delete(Blob).where(Blob.digest == digest, Blob.refcount == 0, Blob.state == PENDING,
                                             ~exists().where(Attachment.blob_digest == digest)))
        except Exception:  # the caller reports the original error; gc removes the row later
            log.exception("could not remove the lease of blob %s", digest)

    # ------------------------------------------------------------------ references
    def attach(self, session: Session, owner_type: str, owner_id: int, staged: StagedUpload) -> Attachment:
        """Take a reference for ``(owner_type, owner_id)`` inside the caller's transaction.

        Call it in the transaction that creates (or holds) the owner row; the reference is committed or
        rolled back with it. Holds the blob row's lock until that transaction ends.
        """
        digest = staged.digest
        for _attempt in range(5):
            taken = session.execute(update(Blob).where(Blob.digest == digest, Blob.state.in_((PENDING, STORED)))
                                    .values(refcount=Blob.refcount + 1, zero_since=None, state=STORED)
                                    .execution_options(synchronize_session=False))
            if rowcount(taken) == 1:
                break
            # gc claimed or removed the blob after our put: lock it, store the bytes again, then reference.
            row = session.execute(select(Blob.state).where(Blob.digest == digest).with_for_update()).first()
            self._reput(staged)
            if row is not None:
                session.execute(update(Blob).where(Blob.digest == digest).values(
                    refcount=Blob.refcount + 1, zero_since=None, state=STORED)
                    .execution_options(synchronize_session=False))
                break
            if _insert_ignore(session, digest=digest, size=staged.size, refcount=1, state=STORED,
                              created_at=utcnow(), zero_since=None):
                break
        else:
            raise StorageError(f"could not take a reference to blob {digest[:12]}…")
        attachment = Attachment(owner_type=owner_type, owner_id=owner_id, filename=staged.filename,
                                content_type=staged.content_type, size=staged.size, blob_digest=digest)
        session.add(attachment)
        session.flush()
        return attachment

    def _reput(self, staged: StagedUpload) -> None:
        if staged.path is None or not staged.path.exists():
            if self.store.exists(staged.digest):
                return
            raise StorageError(f"blob {staged.digest[:12]}… was collected and its upload is gone; upload again")
        log.info("blob %s was collected while being uploaded; storing it again", staged.digest[:12])
        self.store.put_file(staged.digest, staged.path, staged.size)

    def add_reference(self, session: Session, owner_type: str, owner_id: int, source: Attachment,
                      filename: str | None = None) -> Attachment:
        """Reference the blob of an existing attachment from another owner (no bytes are copied).

        Safe without re-storing: ``source`` holds a reference, so the blob cannot be collected.
        """
        taken = session.execute(update(Blob).where(Blob.digest == source.blob_digest, Blob.refcount > 0)
                                .values(refcount=Blob.refcount + 1, zero_since=None)
                                .execution_options(synchronize_session=False))
        if rowcount(taken) != 1:
            raise StorageError(f"attachment {source.id} has no live blob")
        attachment = Attachment(owner_type=owner_type, owner_id=owner_id, filename=filename or source.filename,
                                content_type=source.content_type, size=source.size, blob_digest=source.blob_digest)
        session.add(attachment)
        session.flush()
        return attachment

    def detach_owners(self, session: Session, owner_type: str, owner_ids: Iterable[int]) -> int:
        """Drop every reference of these owners inside the caller's (deleting) transaction.

        :return: the number of attachments removed.
        """
        ids = sorted(set(owner_ids))
        removed = 0
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            where = and_(Attachment.owner_type == owner_type, Attachment.owner_id.in_(batch))
            removed += self._drop(session, where)
        return removed

    def detach_owner(self, session: Session, owner_type: str, owner_id: int) -> int:
        """Drop every reference of one owner (see :meth:`detach_owners`)."""
        return self.detach_owners(session, owner_type, [owner_id])

    def detach(self, session: Session, attachment_id: int) -> bool:
        """Drop one attachment and its reference; ``False`` if it did not exist."""
        return self._drop(session, Attachment.id == attachment_id) == 1

    def _drop(self, session: Session, where: Any) -> int:
        # DELETE ... RETURNING counts only what this transaction really removed (two deleters racing on
        # the same owner cannot both decrement).
        removed = session.execute(delete(Attachment).where(where).returning(Attachment.blob_digest)
                                  .execution_options(synchronize_session=False)).scalars().all()
        now = utcnow()
        for digest, n in sorted(Counter(removed).items()):
            session.execute(update(Blob).where(Blob.digest == digest).values(
                refcount=Blob.refcount - n,
                zero_since=case((Blob.refcount - n <= 0, now), else_=Blob.zero_since))
                .execution_options(synchronize_session=False))
        return len(removed)

    # ------------------------------------------------------------------ reading and collection
    def open(self, attachment: Attachment, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream an attachment's bytes (``end`` inclusive); raises before yielding if the blob is missing."""
        return self.store.open(attachment.blob_digest, start, end)

    def gc(self, grace_seconds: int = DEFAULT_GRACE_SECONDS, now: datetime | None = None) -> GcReport:
        """Delete blobs that have had no reference for ``grace_seconds``.

        Each blob is claimed (``deleting``, committed), then re-checked under its row lock, and its row and
        bytes are removed in one transaction; an upload racing the delete re-stores its bytes (see
        :meth:`attach`). Safe to run on several nodes at once.
        """
        cutoff = (now or utcnow()) - timedelta(seconds=grace_seconds)
        report = GcReport()
        due = or_(and_(Blob.state.in_((PENDING, STORED)), Blob.zero_since < cutoff), Blob.state == DELETING)
        unreferenced = and_(Blob.refcount <= 0, ~exists().where(Attachment.blob_digest == Blob.digest))
        with self.db.session() as s:
            candidates = s.scalars(select(Blob.digest).where(unreferenced, due).order_by(Blob.digest)).all()
        for digest in candidates:
            with self.db.session() as s:
                claimed = s.execute(update(Blob).where(Blob.digest == digest, unreferenced, due)
                                    .values(state=DELETING).execution_options(synchronize_session=False))
            if rowcount(claimed) != 1:
                report.kept += 1
                continue
            try:
                with self.db.session() as s:
                    locked = s.execute(update(Blob).where(Blob.digest == digest, Blob.state == DELETING,
                                                          unreferenced).values(state=DELETING)
                                       .execution_options(synchronize_session=False))
                    if rowcount(locked) != 1:  # an upload took it back
                        report.kept += 1
                        continue
                    size = s.scalar(select(Blob.size).where(Blob.digest == digest)) or 0
                    s.execute(delete(Blob).where(Blob.digest == digest))
                    s.flush()
                    self.store.delete(digest)
                report.deleted += 1
                report.bytes_freed += size
            except Exception as exc:
                log.warning("gc: blob %s not deleted: %s", digest, exc)
                report.errors.append(f"{digest}: {exc.__class__.__name__}: {exc}")
        return report

    # ------------------------------------------------------------------ reporting
    def usage(self) -> dict[str, int]:
        """Disk usage from the database: blobs, attachments, bytes stored and bytes saved by dedup."""
        with self.db.session() as s:
            blobs, stored = s.execute(select(func.count(), func.coalesce(func.sum(Blob.size), 0))).one()
            referenced = s.scalar(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.refcount > 0)) or 0
            unreferenced = s.scalar(select(func.count()).where(Blob.refcount <= 0)) or 0
            attachments, logical = s.execute(select(func.count(), func.coalesce(func.sum(Attachment.size), 0))
                                             ).one()
        return {"blobs": int(blobs), "attachments": int(attachments), "bytes_stored": int(stored),
                "bytes_saved": max(0, int(logical) - int(referenced)), "bytes_referenced": int(logical),
                "unreferenced_blobs": int(unreferenced)}


def file_service(st: Any) -> FileService:
    """The :class:`FileService` of an app state (:func:`core.app_state.state`), built once per app.

    :raises StorageError: when no storage plugin provides ``[storage] backend``.
    """
    service = st.extras.get("files.service")
    if service is None:
        store = st.storage
        if store is None:
            raise StorageError(f"no storage backend {st.settings.get('storage', 'backend')!r} is enabled; add the "
                               "storage plugin that provides it to [plugins] enabled")
        service = FileService(st.db, store, st.settings.data_dir / "tmp")
        st.extras["files.service"] = service
    return service
