"""The agent queue's text search through the SQLite trigram index (core.tickets.search), against ``LIKE``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import delete, or_, select, text

from core.tickets import lists, search
from core.tickets.models import Ticket
from tests.tickets.conftest import PLUGINS, Desk

SUBJECTS = ["Printer jams on floor 3", "PRINTER toner empty", "Invoice 50% off?", "Invoice 50 off",
            'Quote "NEAR" OR AND *star*', "Ünïcode Straße problem", "under_score name", "plain question"]


def _ids(html: str) -> list[int]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [int(n) for n in re.findall(r'<td><a href="/manage/tickets/(\d+)"', body)]


def _seed(desk: Desk) -> tuple[Any, dict[str, int], int]:
    agent = desk.user("agent")
    mine, other = desk.department("Support", [agent]), desk.department("Elsewhere", [])
    ids: dict[str, int] = {}
    with desk.state.db.session() as s:
        for subject in SUBJECTS:
            t = Ticket(subject=subject, department_id=mine, guest_email="someone@example.org", status="open")
            s.add(t)
            s.flush()
            ids[subject] = t.id
        hidden = Ticket(subject="Printer jams elsewhere", department_id=other, guest_email="x@example.org",
                        status="open")
        s.add(hidden)
        s.flush()
        return agent, ids, hidden.id


def _search(desk: Desk, agent: Any, q: str) -> list[int]:
    page = desk.client(agent).get("/manage/tickets?status=all&q=" + quote(q))
    assert page.status_code == 200
    return sorted(_ids(page.get_data(as_text=True)))


def _index_rows(desk: Desk) -> int:
    with desk.state.db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {search.TABLE}_docsize").scalar_one())


def test_index_finds_substrings_case_insensitively_and_reads_no_syntax(desk: Desk) -> None:
    agent, ids, hidden = _seed(desk)
    assert search.index_ready(desk.state.extras, desk.state.db.engine)
    assert _search(desk, agent, "printer") == sorted([ids["Printer jams on floor 3"], ids["PRINTER toner empty"]])
    assert _search(desk, agent, "rinte") == _search(desk, agent, "printer")  # inside a word
    assert _search(desk, agent, "50% off") == [ids["Invoice 50% off?"]]  # % is a character, not a wildcard
    assert _search(desk, agent, '"NEAR" OR') == [ids['Quote "NEAR" OR AND *star*']]  # quotes, operators literal
    assert _search(desk, agent, "*star*") == [ids['Quote "NEAR" OR AND *star*']]
    assert _search(desk, agent, "straße") == [ids["Ünïcode Straße problem"]]
    assert _search(desk, agent, "ÜNÏCODE") == [ids["Ünïcode Straße problem"]]  # Unicode case folded
    assert _search(desk, agent, "r_s") == [ids["under_score name"]]
    assert _search(desk, agent, "someone@example") == sorted(ids.values())  # the guest email too
    assert hidden not in _search(desk, agent, "printer jams")  # another department stays invisible
    assert _search(desk, agent, "no such words") == []
    statements: list[str] = []
    desk.state.db.read_listeners.append(statements.append)
    try:
        _search(desk, agent, "printer")
    finally:
        desk.state.db.read_listeners.remove(statements.append)
    assert sum(f"{search.TABLE} MATCH" in sql for sql in statements) == 2  # the counts and the page
    assert not any("LIKE" in sql.upper() for sql in statements)


def test_short_texts_scan_with_literal_wildcards(desk: Desk) -> None:
    agent, ids, _hidden = _seed(desk)
    assert _search(desk, agent, "_") == [ids["under_score name"]]  # LIKE's _ matched literally
    assert _search(desk, agent, "%") == [ids["Invoice 50% off?"]]
    assert _search(desk, agent, "Ü") == [ids["Ünïcode Straße problem"]]


def test_triggers_follow_every_write(desk: Desk) -> None:
    agent, ids, _hidden = _seed(desk)
    _search(desk, agent, "printer")  # builds the index
    assert _index_rows(desk) == len(SUBJECTS) + 1
    with desk.state.db.session() as s:
        s.get(Ticket, ids["plain question"]).subject = "Scanner smokes"
        s.get(Ticket, ids["Invoice 50 off"]).guest_email = "billing-person@example.com"
        s.execute(delete(Ticket).where(Ticket.id == ids["PRINTER toner empty"]))
    assert _search(desk, agent, "scanner") == [ids["plain question"]]
    assert _search(desk, agent, "plain question") == []
    assert _search(desk, agent, "billing-person") == [ids["Invoice 50 off"]]
    assert _search(desk, agent, "printer") == [ids["Printer jams on floor 3"]]
    assert _index_rows(desk) == len(SUBJECTS)


def test_missing_triggers_are_recreated_and_the_index_rebuilt(desk: Desk) -> None:
    """A migration that rebuilds ``tickets`` on SQLite drops its triggers: the next process repairs the index."""
    agent, ids, _hidden = _seed(desk)
    engine = desk.state.db.engine
    assert search.ensure_index(engine) is True
    with engine.begin() as conn:
        for name in search.TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    with desk.state.db.session() as s:  # written while nothing keeps the index in step
        s.get(Ticket, ids["plain question"]).subject = "Keyboard missing keys"
    desk.state.extras.pop("tickets.search_index", None)  # a new process
    assert _search(desk, agent, "keyboard") == [ids["plain question"]]
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
    assert set(search.TRIGGERS) <= names


def test_many_matches_walk_the_queue_order(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FEW_MATCHES the page walks the queue's order instead of the matches: same tickets, same order."""
    agent, ids, _hidden = _seed(desk)
    client = desk.client(agent)
    few = _ids(client.get("/manage/tickets?status=all&sort=subject&q=example").get_data(as_text=True))
    monkeypatch.setattr(lists, "FEW_MATCHES", 1)
    many = _ids(client.get("/manage/tickets?status=all&sort=subject&q=example").get_data(as_text=True))
    assert few == many and len(few) == len(SUBJECTS)
    by_number = _ids(client.get(f"/manage/tickets?status=all&q=%23{ids['plain question']}").get_data(as_text=True))
    assert ids["plain question"] in by_number  # a number finds its ticket whatever the text says


def test_without_the_index_the_same_results(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    agent, ids, _hidden = _seed(desk)
    queries = ["printer", "INVOICE", "50% off", "example.org", "floor 3", "nothing like it"]
    indexed = {q: _search(desk, agent, q) for q in queries}
    monkeypatch.setattr(search, "index_ready", lambda *_a: False)
    assert {q: _search(desk, agent, q) for q in queries} == indexed


def test_helpers_quote_and_escape() -> None:
    assert search.match_phrase('say "hi"') == '"say ""hi"""'
    assert search.like_pattern("50%_\\") == "%50\\%\\_\\\\%"


@pytest.mark.postgres
def test_postgresql_scans_with_literal_wildcards(plugdesk_app_factory: Callable[..., Flask],
                                                  postgres_url: str) -> None:
    """PostgreSQL keeps ``ILIKE ... ESCAPE`` (``%`` and ``_`` matched as characters), answered by the trigram
    indexes of migration 0015 (the schema here comes from the migrations, as `plugdesk db upgrade` makes it)."""
    from core.migrate import upgrade

    upgrade(postgres_url)
    desk = Desk(plugdesk_app_factory(PLUGINS, overrides={"database": {"url": postgres_url}}))
    agent, ids, hidden = _seed(desk)
    assert not search.index_ready(desk.state.extras, desk.state.db.engine)
    assert _search(desk, agent, "printer") == sorted([ids["Printer jams on floor 3"], ids["PRINTER toner empty"]])
    assert _search(desk, agent, "50% off") == [ids["Invoice 50% off?"]]
    assert _search(desk, agent, "_") == [ids["under_score name"]]
    assert _search(desk, agent, "back\\slash") == []
    assert hidden not in _search(desk, agent, "printer jams")
    # migration 0015's trigram indexes answer the queue's ILIKE ... ESCAPE (seq scans off: a small table)
    like = search.like_pattern("rinter")
    stmt = select(Ticket.id).where(or_(Ticket.subject.ilike(like, escape="\\"),
                                       Ticket.guest_email.ilike(like, escape="\\")))
    with desk.state.db.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'"))}
        assert {"ix_tickets_subject_trgm", "ix_tickets_guest_email_trgm"} <= names
        conn.execute(text("SET enable_seqscan = off"))
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql.replace("%", "%%"))))
    assert "ix_tickets_subject_trgm" in plan and "ix_tickets_guest_email_trgm" in plan, plan


@pytest.mark.postgres
def test_postgresql_upgrade_without_the_right_to_add_pg_trgm(postgres_server: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A database user who may not create extensions: the upgrade completes, says what to run, and search scans."""
    import secrets

    import psycopg

    from core.migrate import upgrade
    from core.ops.schema import code_heads

    name, role = f"t_{secrets.token_hex(6)}", f"r_{secrets.token_hex(6)}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(f"{dsn}/{name}", autocommit=True) as conn:
        conn.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")  # tables yes, extensions no
    url = postgres_server.replace("//postgres@", f"//{role}@") + f"/{name}"
    with caplog.at_level("WARNING", logger="plugdesk.migrate"):
        upgrade(url)
    assert "pg_trgm extension could not be created" in caplog.text
    assert "CREATE INDEX ix_tickets_subject_trgm ON tickets USING gin (subject gin_trgm_ops)" in caplog.text
    with psycopg.connect(f"{dsn}/{name}") as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'")}
        versions = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    assert not names & {"ix_tickets_subject_trgm", "ix_tickets_guest_email_trgm"}
    assert versions == code_heads()


@pytest.mark.slow
def test_db_upgrade_builds_the_index_before_any_search(tmp_path: Any) -> None:
    """``plugdesk init`` / ``db upgrade`` build it (on a large database that is seconds with the write lock held:
    not something for a web request); tickets written afterwards reach it through the triggers."""
    import sqlite3
    import subprocess

    from tests.conftest import plugdesk_cmd

    subprocess.run(plugdesk_cmd("init", "--data-dir", str(tmp_path / "d")), check=True, capture_output=True)
    with sqlite3.connect(tmp_path / "d" / "plugdesk.db") as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert {search.TABLE, *search.TRIGGERS} <= names
        db.execute("DROP TRIGGER tickets_search_insert")
    subprocess.run(plugdesk_cmd("--config", str(tmp_path / "d" / "plugdesk.toml"), "db", "upgrade"), check=True,
                   capture_output=True)
    with sqlite3.connect(tmp_path / "d" / "plugdesk.db") as db:
        assert "tickets_search_insert" in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
