"""The test harness's speed-ups change nothing that is tested: the copied schema is the created one, hashing
keeps its code path, and shared URL builders build the same URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask
from werkzeug.routing import Map, Rule

from core.auth import hashing
from core.testing import TEST_PASSWORD, create_user, make_test_app
from core.testroutes import memoize_url_builders


def schema(path: Path) -> list[tuple[str, str, str]]:
    """Every table, index and trigger of a SQLite file, with its SQL."""
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE "
                                 "'sqlite_%'").fetchall())


def test_copied_schema_is_the_created_schema(tmp_path):
    from core.db import Base, make_engine

    app = make_test_app(tmp_path / "copied", ["auth_local"])
    app.test_client().get("/")  # the app works on the copy
    created = tmp_path / "created.db"
    engine = make_engine(f"sqlite:///{created}")
    Base.metadata.create_all(engine)
    engine.dispose()
    assert schema(tmp_path / "copied" / "plugdesk.db") == schema(created)


def test_a_database_that_is_not_the_harness_file_gets_the_schema_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    app = make_test_app(tmp_path / "site", ["auth_local"], overrides={"database": {"url": url}})
    assert create_user(app, username="erin").username == "erin"
    assert not (tmp_path / "site" / "plugdesk.db").exists()


def test_test_runs_hash_cheaply_through_the_same_code_path(plugdesk_app):
    stored = hashing.password_hasher().hash(TEST_PASSWORD)
    assert stored.startswith("$argon2id$") and f"m={hashing.TEST_PARAMETERS['memory_cost']}," in stored
    assert hashing.verify(stored, TEST_PASSWORD) and not hashing.verify(stored, "wrong")
    production = hashing.PasswordHasher(**hashing.PARAMETERS).hash(TEST_PASSWORD)
    assert hashing.verify(production, TEST_PASSWORD)  # hashes carry their parameters
    user = create_user(plugdesk_app, username="hank")
    client = plugdesk_app.test_client()
    answer = client.post("/api/v1/auth/login", json={"username": user.username, "password": TEST_PASSWORD})
    assert answer.status_code == 200


def test_use_test_parameters_switches_back():
    try:
        hashing.use_test_parameters(False)
        assert f"m={hashing.PARAMETERS['memory_cost']}," in hashing.password_hasher().hash("x")
    finally:
        hashing.use_test_parameters()


def test_shared_url_builders_build_the_same_urls():
    assert memoize_url_builders() is False  # the pytest plugin installed it already
    rules = [Rule("/t/<int:ticket_id>", endpoint="t"), Rule("/kb/<path:slug>", endpoint="kb"),
             Rule("/page/<int:n>", endpoint="page", defaults={"n": 1}), Rule("/x/<a>/<b>", endpoint="x")]
    first, second = Map([r.empty() for r in rules]), Map([r.empty() for r in rules])
    for urls in (first.bind("example.com"), second.bind("example.com")):
        assert urls.build("t", {"ticket_id": 7, "q": "a b"}) == "/t/7?q=a+b"
        assert urls.build("kb", {"slug": "a/b c"}) == "/kb/a/b%20c"
        assert urls.build("page", {}) == "/page/1"  # a default folded into the URL: compiled per rule
        assert urls.build("x", {"a": "1", "b": "2"}) == "/x/1/2"
    app = Flask("speedups")
    app.add_url_rule("/hello/<name>", "hello", lambda name: name)
    with app.test_request_context():
        from flask import url_for

        assert url_for("hello", name="wörld", next="/") == "/hello/w%C3%B6rld?next=/"


def test_test_apps_get_every_table_whatever_the_tests_imported(tmp_path):
    """A plugin's test suite imports little of core: its apps still have every table (e.g. the worker's)."""
    import subprocess
    import sys

    code = ("import sqlite3, sys; from pathlib import Path; from core.testing import make_test_app; "
            "from core.model_registry import import_all_models; from core.db import Base; "
            "make_test_app(Path(sys.argv[1]), ['auth_local']); import_all_models(); "
            "have = {r[0] for r in sqlite3.connect(Path(sys.argv[1]) / 'plugdesk.db').execute("
            "\"SELECT name FROM sqlite_master WHERE type = 'table'\")}; "
            "print(sorted(set(Base.metadata.tables) - have))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
