"""References, garbage collection and races, against real SQLite (and PostgreSQL) and the real filesystem."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from core.app_state import state
from core.files.fsck import fsck
from core.files.models import DELETING, Attachment, Blob
from core.files.service import FileService, file_service
from tests.plugins.storage.support import OWNER, sha


def ingest(service: FileService, data: bytes, name: str = "f.bin"):
    return service.ingest(io.BytesIO(data), name)


def attach(service: FileService, staged, owner_id: int) -> int:
    with service.db.session() as s:
        return service.attach(s, OWNER, owner_id, staged).id


def blob_row(service: FileService, digest: str) -> tuple[int, str] | None:
    with service.db.session() as s:
        row = s.get(Blob, digest)
        return None if row is None else (row.refcount, row.state)


def n_attachments(service: FileService) -> int:
    with service.db.session() as s:
        return s.scalar(select(func.count()).select_from(Attachment))


def assert_clean(service: FileService) -> None:
    report = fsck(service, grace_seconds=0)
    assert report["problems"] == [], report


def test_reference_taken_and_dropped_with_the_callers_transaction(service: FileService) -> None:
    data = os.urandom(5000)
    with ingest(service, data) as staged:
        with pytest.raises(RuntimeError), service.db.session() as s:
            service.attach(s, OWNER, 1, staged)
            raise RuntimeError("the owner's transaction fails")
        assert blob_row(service, sha(data)) == (0, "pending") and n_attachments(service) == 0
        attach(service, staged, 1)
        attach(service, staged, 2)
    assert blob_row(service, sha(data)) == (2, "stored")
    with pytest.raises(RuntimeError), service.db.session() as s:
        assert service.detach_owner(s, OWNER, 1) == 1
        raise RuntimeError("the delete is rolled back")
    assert blob_row(service, sha(data)) == (2, "stored")
    with service.db.session() as s:
        assert service.detach_owners(s, OWNER, [1, 2, 3]) == 2
    assert blob_row(service, sha(data))[0] == 0 and n_attachments(service) == 0
    assert_clean(service)


def test_gc_waits_for_the_grace_period(service: FileService) -> None:
    data = os.urandom(2000)
    with ingest(service, data) as staged:
        att = attach(service, staged, 1)
    with service.db.session() as s:
        assert service.detach(s, att) and not service.detach(s, att)
    assert service.gc(3600).deleted == 0 and service.store.exists(sha(data))
    report = service.gc(0)
    assert (report.deleted, report.bytes_freed) == (1, 2000)
    assert not service.store.exists(sha(data)) and blob_row(service, sha(data)) is None
    assert_clean(service)


def test_crash_between_bytes_and_commit_leaves_an_unreferenced_blob_gc_removes(service: FileService) -> None:
    data = os.urandom(3000)
    staged = ingest(service, data)
    staged.cleanup()  # the request died before attaching
    assert service.store.exists(sha(data)) and blob_row(service, sha(data)) == (0, "pending")
    assert fsck(service)["problems"] == []  # an upload in flight is not a problem
    assert service.gc(3600).deleted == 0
    assert service.gc(0).deleted == 1
    assert list(service.store.iter_digests()) == [] and blob_row(service, sha(data)) is None


def test_concurrent_uploads_of_the_same_content(service: FileService) -> None:
    data = os.urandom(3 * 1024 * 1024)
    barrier = threading.Barrier(2)
    ids: list[Any] = []

    class Slow(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)
            self.first = True

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.first:  # both uploads are mid-stream at the same time
                self.first = False
                barrier.wait(10)
            return self.inner.read(n)

    def run(owner: int) -> None:
        try:
            with service.ingest(Slow(), f"same{owner}.bin") as staged:
                ids.append(attach(service, staged, owner))
        except Exception as exc:
            ids.append(exc)

    threads = [threading.Thread(target=run, args=(owner,)) for owner in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(i, int) for i in ids), ids
    assert blob_row(service, sha(data)) == (2, "stored") and n_attachments(service) == 2
    assert list(service.store.iter_digests()) == [sha(data)]
    assert_clean(service)


def test_last_reference_deleted_and_collected_while_the_same_content_uploads(service: FileService) -> None:
    data = os.urandom(100_000)
    with ingest(service, data) as first:
        old = attach(service, first, 1)
    with ingest(service, data) as staged:  # bytes stored (a dedup hit), not attached yet
        with service.db.session() as s:
            service.detach(s, old)  # the last reference goes ...
        assert service.gc(0).deleted == 1  # ... and gc deletes the bytes under the upload
        assert not service.store.exists(sha(data))
        attach(service, staged, 2)  # the upload notices and stores its bytes again
    assert b"".join(service.store.open(sha(data))) == data
    assert blob_row(service, sha(data)) == (1, "stored")
    assert_clean(service)


def test_upload_rescues_a_blob_claimed_by_gc(service: FileService) -> None:
    data = os.urandom(10_000)
    with ingest(service, data) as first:
        old = attach(service, first, 1)
    with service.db.session() as s:
        service.detach(s, old)
        s.execute(update(Blob).where(Blob.digest == sha(data)).values(state=DELETING))  # gc's claim, committed
    with ingest(service, data) as staged:  # the lease takes the row back from gc
        assert blob_row(service, sha(data)) == (0, "pending")
        assert service.gc(0).deleted == 0 or not service.store.exists(sha(data))
        attach(service, staged, 2)
    assert b"".join(service.store.open(sha(data))) == data
    assert_clean(service)


def test_gc_holding_the_lock_while_an_upload_of_the_same_content_starts(service: FileService) -> None:
    data = os.urandom(50_000)
    with ingest(service, data) as first:
        old = attach(service, first, 1)
    with service.db.session() as s:
        service.detach(s, old)
    release, deleting = threading.Event(), threading.Event()
    real_delete = service.store.delete

    def slow_delete(digest: str) -> None:
        deleting.set()
        release.wait(10)
        real_delete(digest)

    service.store.delete = slow_delete  # type: ignore[method-assign]
    results: list[Any] = []
    gc_thread = threading.Thread(target=lambda: results.append(service.gc(0)))
    gc_thread.start()
    assert deleting.wait(10)  # gc holds the row lock and is deleting the bytes

    def upload() -> None:
        with ingest(service, data) as staged:
            results.append(attach(service, staged, 2))

    up_thread = threading.Thread(target=upload)
    up_thread.start()
    time.sleep(0.3)
    release.set()
    gc_thread.join(20)
    up_thread.join(20)
    service.store.delete = real_delete  # type: ignore[method-assign]
    assert b"".join(service.store.open(sha(data))) == data
    assert blob_row(service, sha(data)) == (1, "stored")
    assert_clean(service)


def race_gc_against_uploads(service: FileService, rounds: int = 25) -> None:
    """Uploads that attach, detach and re-upload the same content while gc(0) runs in a loop."""
    data = os.urandom(40_000)
    stop = threading.Event()
    errors: list[BaseException] = []

    def collector() -> None:
        while not stop.is_set():
            try:
                service.gc(0)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    gc_thread = threading.Thread(target=collector)
    gc_thread.start()
    try:
        for n in range(rounds):
            with ingest(service, data) as staged:
                att = attach(service, staged, n)
            assert b"".join(service.store.open(sha(data))) == data, f"round {n}: bytes lost"
            with service.db.session() as s:
                service.detach(s, att)
    finally:
        stop.set()
        gc_thread.join(30)
    assert not errors, errors
    with ingest(service, data) as staged:
        attach(service, staged, 999)
    assert b"".join(service.store.open(sha(data))) == data
    assert_clean(service)


@pytest.mark.slow  # 5 s of CPU alone, up to 27 s when the machine is busy (threads racing on SQLite's lock)
def test_gc_racing_uploads_sqlite(service: FileService) -> None:
    race_gc_against_uploads(service)


@pytest.mark.slow
@pytest.mark.postgres
def test_gc_racing_uploads_and_concurrent_dedup_postgres(make_app: Callable[..., Flask], postgres_url: str) -> None:
    app = make_app(overrides={"database": {"url": postgres_url}})
    service = file_service(state(app))
    race_gc_against_uploads(service, rounds=40)
    with service.db.session() as s:
        service.detach_owner(s, OWNER, 999)
    assert service.gc(0).deleted == 1 and n_attachments(service) == 0
    test_concurrent_uploads_of_the_same_content(service)
    state(app).db.dispose()


def test_fsck_finds_and_repairs(service: FileService) -> None:
    kept, corrupt, spare = os.urandom(1000), os.urandom(1000), os.urandom(1000)
    for data, owner in ((kept, 1), (corrupt, 2), (spare, 3)):
        with ingest(service, data) as staged:
            attach(service, staged, owner)
    orphan = os.urandom(500)
    service.store.put(sha(orphan), io.BytesIO(orphan), len(orphan))  # bytes without a row
    with service.db.session() as s:
        s.execute(update(Blob).where(Blob.digest == sha(kept)).values(refcount=7))
        service.detach_owner(s, OWNER, 3)
    service.store.path(sha(corrupt)).write_bytes(b"x" * 1000)  # same size, other bytes
    service.store.delete(sha(spare))  # unreferenced and missing
    report = fsck(service, grace_seconds=0)
    kinds = sorted((p["kind"], p["digest"]) for p in report["problems"])
    assert kinds == sorted([("orphan", sha(orphan)), ("wrong_count", sha(kept)), ("hash_mismatch", sha(corrupt)),
                            ("missing", sha(spare))])
    assert report["blobs"] == 3 and report["attachments"] == 2
    repaired = fsck(service, repair=True, grace_seconds=0)
    assert repaired["repaired"] == 3  # the referenced corrupt blob cannot be repaired, only removed
    after = fsck(service, grace_seconds=0)
    assert [(p["kind"], p["digest"]) for p in after["problems"]] == [("missing", sha(corrupt))]
    assert blob_row(service, sha(kept)) == (1, "stored") and not service.store.exists(sha(orphan))
    with ingest(service, corrupt) as staged:  # uploading the content again heals it
        attach(service, staged, 4)
    assert_clean(service)


def test_migration_matches_the_models(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.db import Base, make_engine
    from core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    mine = [d for d in diffs if any(t in repr(d) for t in ("'blobs'", "'attachments'"))]
    assert mine == []
