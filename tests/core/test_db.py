"""Migrations stay in step with the models, on SQLite and on a real PostgreSQL started by the tests."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import core.models  # noqa: F401 - registers core tables
from core.db import Base, make_engine
from core.migrate import upgrade
from core.model_registry import import_all_models, include_object
from core.testing import TEST_PASSWORD


def assert_in_step(url: str) -> None:
    upgrade(url)
    import_all_models()
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_match_models_sqlite(tmp_path):
    assert_in_step(f"sqlite:///{tmp_path / 'm.db'}")


def test_migrations_still_match_after_the_app_created_its_search_index(plugdesk_app_factory, tmp_path):
    url = f"sqlite:///{tmp_path / 'fts.db'}"
    upgrade(url)
    app = plugdesk_app_factory(overrides={"database": {"url": url}})
    from core.kb.search import backend_for

    with app.extensions["plugdesk"].db.session() as s:
        backend_for("sqlite").search(s, "anything")  # creates the FTS5 table on first use
    assert_in_step(url)


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.slow
@pytest.mark.postgres
def test_migrations_match_models_postgres(postgres_url):
    assert_in_step(postgres_url)


@pytest.mark.slow
@pytest.mark.postgres
def test_accounts_work_on_postgres(plugdesk_app_factory, postgres_url):
    from datetime import UTC

    from core.auth.login import authenticate
    from core.testing import create_user
    from core.types import RequestInfo

    upgrade(postgres_url)
    app = plugdesk_app_factory(["auth_local"], overrides={"database": {"url": postgres_url}})
    user = create_user(app, username="Pat")
    assert user.created_at.tzinfo is not None and user.created_at.utcoffset() == UTC.utcoffset(None)
    with app.app_context():
        outcome = authenticate(app.extensions["plugdesk"], "PAT", TEST_PASSWORD, RequestInfo())
    assert outcome.user.id == user.id
    runtime = app.extensions["plugdesk"].runtime
    runtime.patch({"security.ip_blacklist": ["2001:db8::/32"]}, actor="t")
    assert runtime.get("security.ip_blacklist") == ["2001:db8::/32"]
