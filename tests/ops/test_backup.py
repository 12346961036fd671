"""backup create / restore on SQLite with the file store: consistent, verified, migrated forward, pruned."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import text

from core.ops.archive import MANIFEST, read_manifest
from core.ops.backup import BackupError, pg_tool
from tests.ops.helpers import Client, attachments_of, cli, init_site, pdf, summary


@pytest.fixture
def site(tmp_path: Path) -> Client:
    config = init_site(tmp_path / "src")
    client = Client(config)
    same = pdf(0)
    first = client.ticket("Printer jams", "It jams on page 2.", [("scan.pdf", same), ("log.pdf", pdf(1))])
    client.reply(first["id"], "Here is the same scan again.", [("scan-again.pdf", same)])  # dedup: one blob
    client.ticket("VPN", "No tunnel.", [("trace.pdf", pdf(2, 300_000))])
    return client


def restore(archive: Path, target: Path) -> dict:
    r = cli("backup", "restore", str(archive), "--data-dir", str(target), "--json")
    assert r.exit_code == 0, r.output
    return summary(r)


def test_backup_and_restore_sqlite_fs(site: Client, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    r = cli("backup", "create", "--to", str(archive), "--json", config=site.config)
    assert r.exit_code == 0, r.output
    made = summary(r)
    assert made["blob_count"] == 3 and made["attachments"] == 4 and made["tickets"] == 2
    manifest = read_manifest(archive)
    assert manifest["database"]["dialect"] == "sqlite" and manifest["database"]["schema"]
    assert {p["name"] for p in manifest["plugins"]} >= {"auth_local", "storage_fs"}
    assert set(manifest["files"]) == {"config/settings.json", "blobs.tsv", "database/plugdesk.db"}
    secret = (site.config.parent / "secret_key").read_text().strip()
    assert secret.encode() not in archive.read_bytes()  # configuration without secrets

    done = restore(archive, tmp_path / "dst")
    assert done["fsck_problems"] == [] and done["blobs_restored"] == 3 and not done["migrated"]
    assert cli("storage", "fsck", config=tmp_path / "dst" / "plugdesk.toml").exit_code == 0
    restored = Client(tmp_path / "dst" / "plugdesk.toml")
    before, after = site.tickets(), restored.tickets()
    assert [(t["subject"], [m["body"] for m in t["messages"]]) for t in after] == \
        [(t["subject"], [m["body"] for m in t["messages"]]) for t in before]
    for attachment_id, meta in attachments_of(before).items():
        assert restored.download(attachment_id) == site.uploaded[meta["sha256"]]


def _flip_byte(archive: Path, member: str) -> None:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member).offset_data
    with open(archive, "r+b") as f:
        f.seek(offset + 3)
        byte = f.read(1)
        f.seek(offset + 3)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("member", ["database/plugdesk.db", "blob"])
def test_tampered_archive_is_refused(site: Client, tmp_path: Path, member: str) -> None:
    archive = tmp_path / "b.tar"
    assert cli("backup", "create", "--to", str(archive), config=site.config).exit_code == 0
    if member == "blob":
        with tarfile.open(archive) as tar:
            member = next(m.name for m in tar if m.name.startswith("blobs/"))
    _flip_byte(archive, member)
    r = cli("backup", "restore", str(archive), "--data-dir", str(tmp_path / "dst"))
    assert r.exit_code == 1
    assert "changed after it was written" in r.output
    assert not (tmp_path / "dst").exists() or not any((tmp_path / "dst").iterdir())  # nothing half-restored


def _rewrite_manifest(archive: Path, change: dict) -> Path:
    out = archive.with_name("edited.tar")
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            data = src.extractfile(member)
            if member.name == MANIFEST:
                manifest = json.loads(data.read())
                manifest["database"].update(change)
                raw = json.dumps(manifest).encode()
                member.size = len(raw)
                import io

                data = io.BytesIO(raw)
            dst.addfile(member, data)
    return out


def test_newer_schema_is_refused(site: Client, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    assert cli("backup", "create", "--to", str(archive), config=site.config).exit_code == 0
    future = _rewrite_manifest(archive, {"schema": ["9999_from_the_future"]})
    r = cli("backup", "restore", str(future), "--data-dir", str(tmp_path / "dst"))
    assert r.exit_code == 1 and "newer than this plugdesk" in r.output
    assert not any((tmp_path / "dst").iterdir())


def test_extra_member_is_refused(site: Client, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    assert cli("backup", "create", "--to", str(archive), config=site.config).exit_code == 0
    import io

    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("database/extra.sql")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"DROP"))
    r = cli("backup", "restore", str(archive), "--data-dir", str(tmp_path / "dst"))
    assert r.exit_code == 1 and "not in the manifest" in r.output


def test_older_schema_is_migrated_forward(tmp_path: Path) -> None:
    from core.app import create_app
    from core.app_state import state
    from core.migrate import upgrade
    from core.ops.backup import create_backup
    from core.ops.schema import code_heads

    config = init_site(tmp_path / "src")
    db = tmp_path / "src" / "plugdesk.db"
    db.unlink()
    upgrade(f"sqlite:///{db}", "0006")  # a database written by an older plugdesk
    create_backup(state(create_app(config)), tmp_path / "old.tar")
    assert read_manifest(tmp_path / "old.tar")["database"]["schema"] == ["0006"]
    done = restore(tmp_path / "old.tar", tmp_path / "dst")
    assert done["migrated"] and done["fsck_problems"] == []
    st = state(create_app(tmp_path / "dst" / "plugdesk.toml"))
    with st.db.engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))} == code_heads()


def test_restore_refuses_a_target_with_data(site: Client, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    assert cli("backup", "create", "--to", str(archive), config=site.config).exit_code == 0
    r = cli("backup", "restore", str(archive), "--data-dir", str(site.config.parent))
    assert r.exit_code == 1 and "already has" in r.output


def test_missing_pg_dump_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackupError, match="postgresql-client"):
        pg_tool("pg_dump", "16.4")


def test_scheduled_backups_keep_n(site: Client, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from core.app_state import state
    from core.ops.schedule import backup_dir, jobs, list_backups, run_scheduled_backup
    from core.worker.scheduler import all_jobs

    assert "backup" in {job.name for job in all_jobs()} and jobs()[0].interval(state(site.app)) is None
    st = state(site.app)
    st.settings.values["backup"]["keep"] = 2
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hour in range(3):
        assert "wrote plugdesk-" in run_scheduled_backup(st, start + timedelta(hours=hour))
    kept = list_backups(backup_dir(st.settings))
    assert [k["name"] for k in kept] == ["plugdesk-20260101-020000.tar", "plugdesk-20260101-010000.tar"]
    r = cli("backup", "list", "--json", config=site.config)
    assert [b["name"] for b in json.loads(r.stdout)] == [k["name"] for k in kept]
