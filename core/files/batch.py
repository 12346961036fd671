"""Storing many small staged uploads at once (email ingest stores one ``.eml`` per message, and more).

Same guarantees as :meth:`core.files.service.FileService.store_staged`, blob by blob: every blob's row is
leased (committed, ``pending``) before its bytes reach the backend, and each ``put_file`` is the backend's
own atomic, durable write. What is shared is the cost around it:

* the leases of the whole batch are taken in **one** short transaction instead of one commit per blob;
* the puts run on a few threads, so a filesystem backend's ``fsync`` calls overlap and the journal commits
  them together (group commit) instead of one after the other. Backends are already called from several
  request threads at once by the web server, so this asks nothing new of them; the storage contract and the
  ``storage_backends`` hook are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import case, update

from core.db import rowcount
from core.files.models import DELETING, PENDING, Blob
from core.files.service import FileService, StagedUpload, _insert_ignore
from core.models import utcnow

#: Threads writing blobs at once (the writes mostly wait for the disk or the network, not for Python).
WORKERS = 8


def _lease_all(service: FileService, uploads: Iterable[StagedUpload]) -> None:
    """Lease every blob row in one transaction (a row ``gc`` removed meanwhile is leased again alone)."""
    lost: list[StagedUpload] = []
    now = utcnow()
    with service.db.session() as s:
        for item in uploads:
            if _insert_ignore(s, digest=item.digest, size=item.size, refcount=0, state=PENDING, created_at=now,
                              zero_since=now):
                continue
            refreshed = s.execute(update(Blob).where(Blob.digest == item.digest, Blob.refcount == 0).values(
                zero_since=now, state=case((Blob.state == DELETING, PENDING), else_=Blob.state)))
            if rowcount(refreshed) != 1 and s.get(Blob, item.digest) is None:
                lost.append(item)
    for item in lost:
        service._lease(item.digest, item.size)


def _put(service: FileService, item: StagedUpload) -> None:
    assert item.path is not None
    service.store.put_file(item.digest, item.path, item.size)


def store_many(service: FileService, uploads: Iterable[StagedUpload], workers: int = WORKERS) -> None:
    """Store the bytes of uploads staged with ``ingest(..., store=False)``; then :meth:`FileService.attach` them.

    :raises StorageError: a backend write failed (the leases of this batch are dropped; nothing is attached).
    """
    unique: dict[str, StagedUpload] = {}
    for item in uploads:
        unique.setdefault(item.digest, item)
    if len(unique) <= 1:
        for item in unique.values():
            service.store_staged(item)
        return
    _lease_all(service, unique.values())
    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(unique)), thread_name_prefix="blob-put") as pool:
            for _done in pool.map(lambda item: _put(service, item), unique.values()):
                pass
    except BaseException:
        for digest in unique:
            service._drop_lease(digest)
        raise
