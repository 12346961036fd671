"""backup create / restore on PostgreSQL (the real test server) with the S3 store (moto_server)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from core.ops.archive import read_manifest
from tests.ops.helpers import Client, attachments_of, cli, init_site, pdf, summary, with_section

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def s3_toml(endpoint: str, bucket: str) -> str:
    return (f'[plugins.storage_s3]\nbucket = "{bucket}"\nendpoint_url = "{endpoint}"\naccess_key_id = "testing"\n'
            'secret_access_key = { "$env" = "OPS_TEST_S3_SECRET" }\nconnect_timeout = 2\nread_timeout = 10\n')


def configure(config: Path, database_url: str, endpoint: str, bucket: str) -> None:
    text = config.read_text()
    text = with_section(text, "database", f'url = "{database_url}"')
    text = with_section(text, "storage", 'backend = "s3"')
    text = text.replace('"storage_fs"', '"storage_s3"')
    config.write_text(text + "\n" + s3_toml(endpoint, bucket))


@pytest.fixture
def pg_s3_site(tmp_path: Path, postgres_url: str, s3_endpoint: str, s3_client: Any,
               monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("OPS_TEST_S3_SECRET", "testing")
    s3_client.create_bucket(Bucket="ops-source")
    config = init_site(tmp_path / "src")
    configure(config, postgres_url, s3_endpoint, "ops-source")
    assert cli("db", "upgrade", config=config).exit_code == 0
    from core.app import create_app
    from core.app_state import state
    from core.auth.accounts import register
    from tests.ops.helpers import ADMIN_PASSWORD

    register(state(create_app(config)), username="admin", email="admin@example.com", password=ADMIN_PASSWORD,
             role="admin", verified=True)
    client = Client(config)
    big = pdf(7, 6 * 1024 * 1024)
    first = client.ticket("Mail bounces", "Every mail to sales bounces.", [("headers.pdf", pdf(5)), ("big.pdf", big)])
    client.reply(first["id"], "Same headers attached.", [("again.pdf", pdf(5))])
    return client


def new_instance(tmp_path: Path, name: str, postgres_server: str, endpoint: str, bucket: str) -> Path:
    """An operator-written plugdesk.toml for the new instance: a new empty database and a bucket."""
    import secrets

    import psycopg

    db = f"r_{secrets.token_hex(5)}"
    with psycopg.connect(postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    target = tmp_path / name
    target.mkdir()
    (target / "secret_key").write_text(secrets.token_hex(32))
    (target / "plugdesk.toml").write_text(
        '[server]\ndata_dir = "."\nsecret_key = { "$file" = "secret_key" }\n\n'
        f'[database]\nurl = "{postgres_server}/{db}"\n\n[storage]\nbackend = "s3"\n\n'
        '[plugins]\nenabled = ["auth_local", "captcha_builtin", "storage_s3", "moderation_newusers", '
        '"retention_departments"]\n\n' + s3_toml(endpoint, bucket))
    return target


def test_backup_and_restore_postgres_s3(pg_s3_site: Client, tmp_path: Path, postgres_server: str,
                                        s3_endpoint: str, s3_client: Any) -> None:
    archive = tmp_path / "pg.tar"
    r = cli("backup", "create", "--to", str(archive), "--json", config=pg_s3_site.config)
    assert r.exit_code == 0, r.output
    assert summary(r)["database"] == "postgresql" and summary(r)["blob_count"] == 2
    manifest = read_manifest(archive)
    assert manifest["database"]["member"] == "database/plugdesk.pgdump"
    assert manifest["database"]["tool"].startswith("pg_dump")
    with tarfile.open(archive) as tar:
        archived = json.loads(tar.extractfile("config/settings.json").read())
    assert archived["plugins"]["storage_s3"]["secret_access_key"] == "********"

    s3_client.create_bucket(Bucket="ops-restored")
    target = new_instance(tmp_path, "dst", postgres_server, s3_endpoint, "ops-restored")
    r = cli("backup", "restore", str(archive), "--data-dir", str(target), "--json")
    assert r.exit_code == 0, r.output
    assert summary(r)["fsck_problems"] == [] and summary(r)["blobs_restored"] == 2
    assert cli("storage", "fsck", config=target / "plugdesk.toml").exit_code == 0
    restored = Client(target / "plugdesk.toml")
    before = pg_s3_site.tickets()
    assert [t["subject"] for t in restored.tickets()] == [t["subject"] for t in before]
    for attachment_id, meta in attachments_of(before).items():
        assert restored.download(attachment_id) == pg_s3_site.uploaded[meta["sha256"]]


def test_blobs_skip_restores_against_the_providers_bucket(pg_s3_site: Client, tmp_path: Path,
                                                          postgres_server: str, s3_endpoint: str) -> None:
    archive = tmp_path / "skip.tar"
    r = cli("backup", "create", "--to", str(archive), "--blobs", "skip", "--json", config=pg_s3_site.config)
    assert r.exit_code == 0, r.output
    assert archive.stat().st_size < 1024 * 1024  # the 6 MiB blob is not in it
    target = new_instance(tmp_path, "dst", postgres_server, s3_endpoint, "ops-source")  # the versioned bucket
    r = cli("backup", "restore", str(archive), "--data-dir", str(target), "--json")
    assert r.exit_code == 0, r.output
    assert summary(r)["blobs_missing"] == 0 and summary(r)["fsck_problems"] == []
