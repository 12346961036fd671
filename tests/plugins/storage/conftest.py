"""Fixtures for the file-store tests: apps with storage_fs (or storage_s3) plus the test upload plugin."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.app_state import state
from core.files.service import FileService, file_service
from tests.plugins.storage.support import UploadPlugin


@pytest.fixture
def make_app(plugdesk_app_factory: Callable[..., Flask]) -> Callable[..., Flask]:
    """``make_app(plugins=[...], overrides={...})`` with the upload test plugin."""

    def make(plugins: list[str] | None = None, overrides: dict[str, Any] | None = None) -> Flask:
        return plugdesk_app_factory(plugins or ["auth_local", "storage_fs"], extra={"test_uploads": UploadPlugin()},
                                    overrides=overrides)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app on SQLite with storage_fs and the upload test plugin."""
    return make_app()


@pytest.fixture
def service(app: Flask) -> FileService:
    """The app's blob service."""
    return file_service(state(app))


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A fresh bucket on the moto server."""
    s3_client.create_bucket(Bucket="plugdesk-test")
    return "plugdesk-test"


@pytest.fixture
def s3_table(s3_endpoint: str, s3_bucket: str) -> dict[str, Any]:
    """A ``[plugins.storage_s3]`` table for the moto server."""
    return {"bucket": s3_bucket, "endpoint_url": s3_endpoint, "access_key_id": "testing",
            "secret_access_key": "testing", "prefix": "blobs/", "connect_timeout": 2, "read_timeout": 5,
            "max_attempts": 2}


@pytest.fixture
def s3_app(make_app: Callable[..., Flask], s3_table: dict[str, Any]) -> Flask:
    """An app whose ``[storage] backend`` is s3 on the moto server."""
    return make_app(["auth_local", "storage_s3"], {"storage": {"backend": "s3"},
                                                    "plugins": {"storage_s3": s3_table}})


def blob_files(root: Path) -> list[Path]:
    """Every file under a storage_fs root, temp files included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def moto_reset(endpoint: str) -> None:
    """Wipe the moto server's state."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
