"""``plugin_migrations``: a plugin owns its tables through an Alembic branch of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core import hookimpl
from core.db import make_engine
from core.migrate import upgrade_all
from core.plugins import StartupError
from core.settings import Settings, load_settings

REVISION = '''"""tiny: the notes table."""
import sqlalchemy as sa
from alembic import op

revision = "tiny_0001"
down_revision = None
branch_labels = ("tiny",)
depends_on = None


def upgrade() -> None:
    op.create_table("tiny_notes", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("text", sa.String(200), nullable=False))


def downgrade() -> None:
    op.drop_table("tiny_notes")
'''


class TinyPlugin:
    """A plugin registered in code whose only hook names its migrations directory."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = directory

    @hookimpl
    def plugin_migrations(self) -> str | None:
        return str(self.directory)


@pytest.fixture(name="versions")
def versions_fixture(tmp_path: Path) -> Path:
    directory = tmp_path / "tiny_versions"
    directory.mkdir()
    (directory / "tiny_0001_notes.py").write_text(REVISION, encoding="utf-8")
    return directory


def settings_for(tmp_path: Path) -> Settings:
    return load_settings(None, environ={}, overrides={
        "server": {"data_dir": str(tmp_path), "secret_key": "x" * 32},
        "database": {"url": f"sqlite:///{tmp_path / 'm.db'}"},
        "plugins": {"enabled": ["auth_local"]}})


def tables_and_heads(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            heads = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        return set(inspect(engine).get_table_names()), heads
    finally:
        engine.dispose()


def test_db_upgrade_applies_core_and_the_plugins_branch_idempotently(tmp_path, versions):
    settings = settings_for(tmp_path)
    assert upgrade_all(settings, plugins={"tiny": TinyPlugin(versions)}) == [str(versions)]
    tables, heads = tables_and_heads(settings.get("database", "url"))
    assert {"users", "tickets", "tiny_notes"} <= tables
    assert "tiny_0001" in heads and len(heads) == 2  # core's head and the plugin's, side by side
    upgrade_all(settings, plugins={"tiny": TinyPlugin(versions)})  # nothing left to do: no error
    assert tables_and_heads(settings.get("database", "url"))[1] == heads


def test_without_plugin_migrations_only_core_runs(tmp_path):
    settings = settings_for(tmp_path)
    assert upgrade_all(settings) == []
    tables, heads = tables_and_heads(settings.get("database", "url"))
    assert "users" in tables and "tiny_notes" not in tables and len(heads) == 1


@pytest.mark.parametrize("bad", ["relative/dir", "/nonexistent/plugdesk-versions"])
def test_a_bad_directory_stops_with_the_plugins_name(tmp_path, bad):
    with pytest.raises(StartupError, match="plugin 'tiny': plugin_migrations returned"):
        upgrade_all(settings_for(tmp_path), plugins={"tiny": TinyPlugin(bad)})


def test_the_harness_creates_plugin_tables(plugdesk_app_factory, versions):
    app = plugdesk_app_factory(["auth_local"], extra={"tiny": TinyPlugin(versions)})
    db = app.extensions["plugdesk"].db
    with db.session() as s:
        s.execute(text("INSERT INTO tiny_notes (text) VALUES ('kept by the plugin')"))
    with db.session() as s:
        assert s.execute(text("SELECT text FROM tiny_notes")).scalar() == "kept by the plugin"
