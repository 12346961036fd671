"""storage_fs: the contract suite plus filesystem specifics (sharding, permissions, atomicity, config)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from core.contracts.storage import StorageBackendContract, blob
from core.plugins import StartupError
from core.types import StorageError
from plugins.storage_fs import FsBlobStore


class TestFsContract(StorageBackendContract):
    plugin_name = "storage_fs"
    invalid_config = {"path": 42}

    @pytest.fixture
    def store(self, tmp_path: Path) -> FsBlobStore:
        (tmp_path / "files").mkdir(mode=0o700)  # parse_config creates it in a real app
        return FsBlobStore(tmp_path / "files")


def test_layout_permissions_and_no_temp_files_left(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "files")
    digest, data = blob(b"layout")
    store.put(digest, io.BytesIO(data), len(data))
    path = tmp_path / "files" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data and store.path(digest) == path
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == [digest]  # the temp file was linked, then removed


def test_failed_write_leaves_no_partial_blob(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "files")
    digest, data = blob(os.urandom(3 * 1024 * 1024))

    class Dies(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 1024 * 1024:
                raise OSError(5, "Input/output error")
            return super().read(n)

    with pytest.raises((OSError, StorageError)):
        store.put(digest, Dies(data), len(data))
    assert not store.exists(digest) and list(store.iter_digests()) == []
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_iter_ignores_strays(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "files")
    digest, data = blob(b"real")
    store.put(digest, io.BytesIO(data), len(data))
    shard = store.path(digest).parent
    (shard / ".tmp-deadbeef").write_bytes(b"partial")
    (shard / ("0" * 64)).write_bytes(b"wrong shard")
    (tmp_path / "files" / "README").write_text("x")
    assert list(store.iter_digests()) == [digest]


def test_check_reports_an_unusable_root(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "missing")
    with pytest.raises(Exception, match="does not exist"):
        store.check()


def test_config(plugdesk_app_factory, tmp_path: Path) -> None:
    app = plugdesk_app_factory(["auth_local", "storage_fs"])
    store = app.extensions["plugdesk"].storage
    assert store.root == app.extensions["plugdesk"].settings.data_dir / "files" and store.root.is_dir()
    elsewhere = tmp_path / "elsewhere"
    app = plugdesk_app_factory(["auth_local", "storage_fs"],
                               overrides={"plugins": {"storage_fs": {"path": str(elsewhere)}}})
    assert app.extensions["plugdesk"].storage.root == elsewhere and elsewhere.stat().st_mode & 0o777 == 0o700
    (tmp_path / "afile").write_text("x")
    for bad, message in (({"path": str(tmp_path / "afile")}, "not a directory"), ({"path": 3}, "non-empty"),
                         ({"root": "x"}, "unknown key")):
        with pytest.raises(StartupError, match=message):
            plugdesk_app_factory(["auth_local", "storage_fs"], overrides={"plugins": {"storage_fs": bad}})


def test_healthz_checks_the_store(plugdesk_app_factory) -> None:
    app = plugdesk_app_factory(["auth_local", "storage_fs"])
    body = app.test_client().get("/healthz").get_json()
    assert body["checks"]["storage"] == "ok"
    os.chmod(app.extensions["plugdesk"].storage.root, 0o500)
    try:
        if os.geteuid() != 0:  # root may write anywhere; remove the directory instead
            assert app.test_client().get("/healthz").status_code == 503
    finally:
        os.chmod(app.extensions["plugdesk"].storage.root, 0o700)
    app.extensions["plugdesk"].storage.root.rename(app.extensions["plugdesk"].storage.root.with_name("gone"))
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["checks"]["storage"].startswith("error")
