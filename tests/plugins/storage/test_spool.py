"""core.files.spool.HashingSpool: a form's file part written once and taken over by FileService.ingest."""

from __future__ import annotations

import gc
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from core.files.rules import UploadRejected
from core.files.service import FileService, file_service
from core.files.spool import HashingSpool
from core.testing import make_test_app
from tests.plugins.storage.support import PDF


@pytest.fixture()
def service(tmp_path: Path) -> FileService:
    app = make_test_app(tmp_path / "app", ["auth_local", "storage_fs"])
    return file_service(app.extensions["plugdesk"])


def _spool(service: FileService, data: bytes, pieces: int = 7) -> HashingSpool:
    spool = service.spool()
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        spool.write(data[i:i + step])
    spool.seek(0)  # what Werkzeug does once the part is complete
    return spool


def _staging_files(service: FileService) -> list[Path]:
    directory = service.store.temp_dir() or service.temp_root
    return [p for p in directory.iterdir() if p.is_file()] if directory.exists() else []


def test_ingest_takes_the_spool_over_without_copying(service: FileService) -> None:
    data = PDF + os.urandom(2 * 1024 * 1024)
    spool = _spool(service, data)
    path = spool.path
    with service.ingest(spool, "report.pdf") as staged:
        assert staged.path == path  # the very file Werkzeug wrote
        assert staged.digest == hashlib.sha256(data).hexdigest() and staged.size == len(data)
        assert staged.content_type == "application/pdf"
    spool.close()  # the request's end: the adopted file is not the spool's to delete any more
    assert b"".join(service.store.open(staged.digest)) == data
    assert _staging_files(service) == []


def test_a_spool_read_first_is_copied_like_any_stream(service: FileService) -> None:
    data = PDF + b"tail"
    spool = _spool(service, data)
    assert spool.read(4) == b"%PDF"
    spool.seek(0)
    with service.ingest(spool, "again.pdf") as staged:
        assert staged.path != spool.path and staged.digest == hashlib.sha256(data).hexdigest()
    spool.close()
    assert _staging_files(service) == []


def test_rules_still_apply_and_nothing_is_left(service: FileService) -> None:
    big = _spool(service, PDF + os.urandom(100_000))
    with pytest.raises(UploadRejected) as too_big:
        service.ingest(big, "big.pdf", max_bytes=50_000)
    assert too_big.value.status == 413 and "larger than the limit" in str(too_big.value)
    big.close()
    fake = _spool(service, b"MZ\x90\x00" + os.urandom(10_000))  # a Windows executable called .pdf
    with pytest.raises(UploadRejected) as wrong:
        service.ingest(fake, "invoice.pdf")
    assert wrong.value.status == 415
    fake.close()
    assert _staging_files(service) == []


def test_unadopted_spools_are_deleted_when_closed_or_dropped(service: FileService) -> None:
    closed = _spool(service, b"x" * 1000)
    assert closed.path.exists()
    closed.close()
    assert not closed.path.exists()
    dropped = _spool(service, b"y" * 1000)
    path = dropped.path
    del dropped  # a body cut off in the middle of a part: nobody closes it
    gc.collect()
    assert not path.exists()


def test_another_services_spool_or_an_out_of_order_write_is_not_adopted(service: FileService,
                                                                         tmp_path: Path) -> None:
    other = file_service(make_test_app(tmp_path / "other", ["auth_local", "storage_fs"]).extensions["plugdesk"])
    foreign = _spool(other, PDF)
    assert foreign.adopt(service) is None
    foreign.close()
    rewritten = _spool(service, PDF)
    rewritten.write(b"%PDF-9")  # at position 0: the running hash no longer describes the file
    assert rewritten.adopt(service) is None
    rewritten.close()


def test_werkzeug_spools_big_file_parts_of_the_app(tmp_path: Path) -> None:
    """FastBodyRequest hands file parts of bodies over 500 KiB to the app's file service (the test client too)."""
    from flask import request

    app = make_test_app(tmp_path / "app", ["auth_local", "storage_fs"])
    seen: dict[str, Any] = {}

    @app.post("/spool-probe")
    def probe() -> str:
        stream = request.files["f"].stream
        seen["type"] = type(stream)
        seen["data"] = stream.read()
        return "ok"

    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    for size, expected in ((600 * 1024, HashingSpool), (1000, None)):
        data = os.urandom(size)
        r = client.post("/spool-probe", data={"f": (io.BytesIO(data), "x.bin")}, content_type="multipart/form-data")
        assert r.status_code == 200, r.get_data(as_text=True)
        assert seen["data"] == data
        assert (seen["type"] is HashingSpool) == (expected is HashingSpool)


def test_an_unwritable_temp_directory_falls_back_to_werkzeugs_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The form still parses; whatever stores the file then reports the storage problem as before."""
    from flask import request

    app = make_test_app(tmp_path / "app", ["auth_local", "storage_fs"])
    service = file_service(app.extensions["plugdesk"])

    def broken() -> HashingSpool:
        raise PermissionError(13, "Permission denied", str(service.temp_root))

    monkeypatch.setattr(service, "spool", broken)
    seen: dict[str, Any] = {}

    @app.post("/spool-probe")
    def probe() -> str:
        seen["type"] = type(request.files["f"].stream)
        seen["size"] = len(request.files["f"].read())
        return "ok"

    app.config["WTF_CSRF_ENABLED"] = False
    r = app.test_client().post("/spool-probe", data={"f": (io.BytesIO(b"z" * 700_000), "x.bin")},
                               content_type="multipart/form-data")
    assert r.status_code == 200 and seen["size"] == 700_000 and seen["type"] is not HashingSpool
