"""Safe upgrades: a lock, a refusal of newer databases, --dry-run; older code answers 503 on writes; /healthz."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import make_engine
from core.ops.schema import code_heads, upgrade_lock
from tests.ops.helpers import Client, cli, init_site


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init_site(tmp_path / "site")


def _set_revision(config: Path, revision: str) -> None:
    engine = make_engine(f"sqlite:///{config.parent / 'plugdesk.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_dry_run_prints_the_plan_and_changes_nothing(config: Path) -> None:
    _set_revision(config, "0006")
    r = cli("db", "upgrade", "--dry-run", config=config)
    assert r.exit_code == 0, r.output
    assert "database at schema revision 0006" in r.output and "dry run: nothing was changed" in r.output
    assert "pending" in cli("db", "status", config=config).output
    _set_revision(config, "0006")


def test_upgrade_refuses_a_newer_database(config: Path) -> None:
    _set_revision(config, "9999_from_the_future")
    r = cli("db", "upgrade", config=config)
    assert r.exit_code == 1
    assert "a newer plugdesk migrated it" in r.output


def test_upgrade_waits_for_the_lock(config: Path) -> None:
    engine = make_engine(f"sqlite:///{config.parent / 'plugdesk.db'}")
    with upgrade_lock(engine):
        r = cli("db", "upgrade", "--lock-timeout", "1", config=config)
    assert r.exit_code == 1 and "another node is upgrading" in r.output
    r = cli("db", "upgrade", config=config)
    assert r.exit_code == 0 and "up to date" in r.output


@pytest.mark.postgres
@pytest.mark.slow
def test_upgrade_lock_is_cluster_wide_on_postgres(postgres_url: str) -> None:
    from core.migrate import upgrade
    from core.ops.schema import UpgradeRefused, safe_upgrade

    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with upgrade_lock(engine), pytest.raises(UpgradeRefused, match="another node"):
        safe_upgrade(postgres_url, lock_timeout=0.5, echo=lambda _line: None)
    assert "up to date" in "".join(_capture(lambda echo: safe_upgrade(postgres_url, echo=echo)))
    engine.dispose()


def _capture(run) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    run(lines.append)
    return lines


def test_older_code_answers_503_on_writes(config: Path) -> None:
    from core.app import create_app

    site = Client(config)  # logged in before the upgrade: its token stays valid
    _set_revision(config, "9999_from_the_future")
    old_node = create_app(config).test_client()  # a node whose code predates the database
    r = old_node.post("/api/v1/departments", json={"name": "X", "public": True}, headers=site.headers)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "newer plugdesk migrated it" in r.get_json()["detail"] and r.mimetype == "application/problem+json"
    assert old_node.get("/api/v1/departments", headers=site.headers).status_code == 200  # reads keep working
    assert old_node.post("/login", data={}).status_code == 503  # the web forms too
    health = old_node.get("/healthz").get_json()
    assert health["status"] == "ok" and health["schema"]["state"] == "ahead"


def test_healthz_reports_schema_and_plugins(config: Path) -> None:
    health = Client(config).client.get("/healthz")
    body = health.get_json()
    assert health.status_code == 200 and body["status"] == "ok"
    assert body["schema"]["state"] == "current" and body["schema"]["revision"] == ",".join(sorted(code_heads()))
    assert body["plugins"]["auth_local"]["status"] == "ok" and "storage_fs" in body["plugins"]
    assert health.headers["X-Request-ID"]


def test_serving_processes_classify_the_schema_like_alembic_without_importing_it(tmp_path: Path) -> None:
    """The write guard, /healthz and /metrics parse the migration files themselves (issue 22: Alembic is
    ~10 MiB in every worker); they must see what Alembic sees: revisions, heads and state."""
    import subprocess
    import sys

    from core.migrate import upgrade
    from core.ops.schema import known_revisions, light_status, revision_graph, status

    graph = revision_graph()
    assert set(graph) == known_revisions()
    assert set(graph) - {d for downs in graph.values() for d in downs} == code_heads()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)

    def same() -> str:
        light, full = light_status(engine), status(engine)
        assert (light.state, light.database, light.code, set(light.pending)) == \
            (full.state, full.database, full.code, set(full.pending))
        return light.state

    assert same() == "empty"
    upgrade(url, revision=sorted(graph)[1])
    assert same() == "behind"
    upgrade(url)
    assert same() == "current"
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    assert same() == "ahead" and "f00dfeed" in light_status(engine).refusal()
    engine.dispose()
    probe = ("import sys; from core.ops.schema import WriteGuard; from core.db import make_engine; "
             f"WriteGuard(make_engine({url!r})).refusal(); print('alembic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
