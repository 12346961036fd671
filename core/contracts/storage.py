"""``StorageBackendContract``: what every :class:`core.types.BlobStore` must do.

Subclass it in a storage plugin's tests and provide a ``store`` fixture returning a fresh, empty store::

    from core.testing import StorageBackendContract

    class TestMyStore(StorageBackendContract):
        plugin_name = "mystore"             # with plugin/overrides/invalid_config: configuration refusal
        plugin = plugdesk_mystore           # is checked too (:mod:`core.contracts.config`)
        invalid_config = {"path": 42}

        @pytest.fixture
        def store(self, tmp_path):
            return MyStore(tmp_path)
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from core.contracts.config import ConfigurationContract
from core.types import BlobNotFound, BlobStore


def blob(data: bytes) -> tuple[str, bytes]:
    """``(sha256 hex, data)``."""
    return hashlib.sha256(data).hexdigest(), data


def read(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    """All bytes ``open`` yields."""
    return b"".join(store.open(digest, start, end))


class StorageBackendContract(ConfigurationContract):
    """The contract suite; every test gets an empty store from the subclass's ``store`` fixture."""

    @pytest.fixture
    def store(self) -> BlobStore:  # pragma: no cover - provided by the subclass
        raise NotImplementedError("subclass StorageBackendContract and provide a `store` fixture")

    def test_put_open_exists(self, store: BlobStore) -> None:
        digest, data = blob(b"hello plugdesk\n" * 100)
        assert not store.exists(digest)
        assert store.put(digest, io.BytesIO(data), len(data)) is True
        assert store.exists(digest)
        assert read(store, digest) == data
        assert store.size(digest) == len(data)

    def test_put_is_idempotent(self, store: BlobStore) -> None:
        digest, data = blob(b"same content")
        assert store.put(digest, io.BytesIO(data), len(data)) is True
        assert store.put(digest, io.BytesIO(data), len(data)) is False
        assert read(store, digest) == data
        assert list(store.iter_digests()).count(digest) == 1

    def test_put_file(self, store: BlobStore, tmp_path: Path) -> None:
        digest, data = blob(os.urandom(300_000))
        directory = store.temp_dir() or tmp_path
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "upload-contract.tmp"
        path.write_bytes(data)
        assert store.put_file(digest, path, len(data)) is True
        assert store.put_file(digest, path, len(data)) is False
        path.unlink()  # core deletes its temp file afterwards: the stored blob must not depend on it
        assert read(store, digest) == data

    def test_ranges(self, store: BlobStore) -> None:
        digest, data = blob(bytes(range(256)) * 40)
        store.put(digest, io.BytesIO(data), len(data))
        assert read(store, digest, 0, 0) == data[:1]
        assert read(store, digest, 2, 5) == data[2:6]
        assert read(store, digest, 100) == data[100:]
        assert read(store, digest, len(data) - 1, len(data) - 1) == data[-1:]
        assert read(store, digest, 10, len(data) + 100) == data[10:]

    def test_large_blob_streams_in_chunks(self, store: BlobStore) -> None:
        digest, data = blob(os.urandom(3 * 1024 * 1024 + 17))
        store.put(digest, io.BytesIO(data), len(data))
        chunks = list(store.open(digest))
        assert len(chunks) > 1 and max(len(c) for c in chunks) <= 8 * 1024 * 1024
        assert b"".join(chunks) == data
        assert read(store, digest, 1024 * 1024 - 3, 2 * 1024 * 1024 + 5) == data[1024 * 1024 - 3:2 * 1024 * 1024 + 6]

    def test_zero_byte_blob(self, store: BlobStore) -> None:
        digest, data = blob(b"")
        assert store.put(digest, io.BytesIO(data), 0) is True
        assert store.exists(digest) and store.size(digest) == 0
        assert read(store, digest) == b""

    def test_delete(self, store: BlobStore) -> None:
        digest, data = blob(b"to be deleted")
        store.put(digest, io.BytesIO(data), len(data))
        store.delete(digest)
        assert not store.exists(digest)
        assert store.size(digest) is None
        store.delete(digest)  # deleting a missing digest is not an error
        assert store.put(digest, io.BytesIO(data), len(data)) is True  # and it can come back

    def test_missing_digest(self, store: BlobStore) -> None:
        digest, _ = blob(b"never stored")
        assert not store.exists(digest)
        with pytest.raises(BlobNotFound):
            store.open(digest)  # raised by the call, before any iteration

    def test_iterate(self, store: BlobStore) -> None:
        digests = set()
        for n in range(5):
            digest, data = blob(f"blob {n}".encode())
            store.put(digest, io.BytesIO(data), len(data))
            digests.add(digest)
        assert set(store.iter_digests()) == digests
        gone = sorted(digests)[0]
        store.delete(gone)
        assert set(store.iter_digests()) == digests - {gone}

    def test_bad_digest_refused(self, store: BlobStore) -> None:
        for bad in ("../../etc/passwd", "ABC", "g" * 64, hashlib.sha256(b"x").hexdigest().upper()):
            with pytest.raises(ValueError):
                store.put(bad, io.BytesIO(b"x"), 1)

    def test_concurrent_puts_of_one_digest(self, store: BlobStore) -> None:
        digest, data = blob(os.urandom(200_000))
        results: list[Any] = []

        def put() -> None:
            try:
                results.append(store.put(digest, io.BytesIO(data), len(data)))
            except Exception as exc:  # reported below
                results.append(exc)

        threads = [threading.Thread(target=put) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(r, bool) for r in results), results
        assert results.count(True) >= 1 and read(store, digest) == data
        assert list(store.iter_digests()) == [digest]

    def test_check(self, store: BlobStore) -> None:
        store.check()
