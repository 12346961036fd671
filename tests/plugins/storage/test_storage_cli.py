"""``plugdesk storage fsck | gc | usage | migrate`` on a site made by ``plugdesk init``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.app import create_app
from core.app_state import state
from core.cli import main
from core.files.service import file_service
from tests.plugins.storage.support import OWNER, sha


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Any]:
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("admin password for tests\n")
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "d"), "--admin-password-file", str(pw)])
    assert r.exit_code == 0, r.output
    return {"runner": runner, "config": tmp_path / "d" / "plugdesk.toml", "data": tmp_path / "d"}


def run(site: dict[str, Any], *args: str) -> Any:
    return site["runner"].invoke(main, ["--config", str(site["config"]), *args])


def add_files(config: Path, contents: list[bytes]) -> Any:
    service = file_service(state(create_app(config)))
    for owner, data in enumerate(contents):
        with service.ingest(io.BytesIO(data), f"f{owner}.bin") as staged, service.db.session() as s:
            service.attach(s, OWNER, owner, staged)
    return service


def test_fsck_json_gc_and_usage(site: dict[str, Any]) -> None:
    a, b = os.urandom(1000), os.urandom(500)
    service = add_files(site["config"], [a, a, a, b])
    r = run(site, "storage", "fsck", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report == {"blobs": 2, "attachments": 4, "bytes_stored": 1500, "bytes_saved": 2000, "problems": [],
                      "repaired": 0}
    with service.db.session() as s:
        service.detach_owner(s, OWNER, 3)
    r = run(site, "storage", "gc", "--json")
    assert json.loads(r.output)["deleted"] == 0  # inside the one-hour grace period
    r = run(site, "storage", "gc", "--grace-seconds", "0")
    assert r.exit_code == 0 and "deleted 1 blobs (500 bytes)" in r.output
    r = run(site, "storage", "usage", "--json")
    assert json.loads(r.output)["blobs"] == 1

    service.store.path(sha(a)).write_bytes(b"corrupt!" * 125)
    r = run(site, "storage", "fsck")
    assert r.exit_code == 1 and "hash_mismatch" in r.output and "fsck found 1 problem(s)" in r.output
    r = run(site, "storage", "fsck", "--quick", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["problems"] == []  # same size: only a full check sees it


def test_migrate_refuses_unknown_or_same_backend(site: dict[str, Any]) -> None:
    r = run(site, "storage", "migrate", "--to", "s3")
    assert r.exit_code == 1 and "not provided by an enabled plugin" in r.output
    r = run(site, "storage", "migrate", "--to", "fs")
    assert r.exit_code == 1 and "both 'fs'" in r.output


@pytest.mark.slow
def test_migrate_fs_to_s3_verifies_switches_and_resumes(site: dict[str, Any], s3_endpoint: str, s3_client: Any,
                                                       s3_bucket: str) -> None:
    blobs = [os.urandom(2000 + n) for n in range(5)]
    add_files(site["config"], blobs)
    config = site["config"]
    text = config.read_text().replace('enabled = ["auth_local"', 'enabled = ["storage_s3", "auth_local"')
    config.write_text(text + f'\n[plugins.storage_s3]\nbucket = "{s3_bucket}"\nendpoint_url = "{s3_endpoint}"\n'
                      'access_key_id = "testing"\nsecret_access_key = "testing"\n')
    # an interrupted earlier run already copied two blobs
    s3 = state(create_app(config)).storages["s3"]
    for data in blobs[:2]:
        s3.put(sha(data), io.BytesIO(data), len(data))
    r = run(site, "storage", "migrate", "--to", "s3")
    assert r.exit_code == 0, r.output
    assert "copied 3 blobs" in r.output and "2 already there" in r.output
    assert 'backend = "s3"' in config.read_text() and "[plugins.storage_s3]" in config.read_text()
    assert sorted(s3.iter_digests()) == sorted(sha(d) for d in blobs)
    r = run(site, "storage", "fsck", "--json")  # now against S3
    assert r.exit_code == 0 and json.loads(r.output)["blobs"] == 5, r.output
    r = run(site, "storage", "migrate", "--from", "fs", "--to", "s3")
    assert r.exit_code == 0 and "copied 0 blobs" in r.output and "5 already there" in r.output


@pytest.mark.slow
def test_migrate_refuses_to_switch_when_a_blob_is_missing(site: dict[str, Any], s3_endpoint: str, s3_client: Any,
                                                          s3_bucket: str) -> None:
    blobs = [os.urandom(100), os.urandom(200)]
    service = add_files(site["config"], blobs)
    service.store.delete(sha(blobs[0]))
    config = site["config"]
    text = config.read_text().replace('enabled = ["auth_local"', 'enabled = ["storage_s3", "auth_local"')
    config.write_text(text + f'\n[plugins.storage_s3]\nbucket = "{s3_bucket}"\nendpoint_url = "{s3_endpoint}"\n'
                      'access_key_id = "testing"\nsecret_access_key = "testing"\n')
    r = run(site, "storage", "migrate", "--to", "s3")
    assert r.exit_code == 1 and "missing from the source store" in r.output
    assert 'backend = "fs"' in config.read_text()
