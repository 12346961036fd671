"""Regression tests for the outside review of issue 19 (findings 1-5 and 8-10; 6 and 7 live with the input
validation and RSS tests). Each fails on the code before the fix."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from core.app_state import state
from core.auth import tokens
from core.auth.sessions import issue_token
from core.limits import MemoryStore
from core.models import AuditEntry, User
from core.testing import TEST_PASSWORD, create_user

ROOT = Path(__file__).resolve().parents[2]


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def web_login(client, username, password=TEST_PASSWORD, query=""):
    page = client.get("/login").get_data(as_text=True)
    return client.post(f"/login{query}", data={"csrf_token": csrf(page), "username": username, "password": password})


def register(client, **fields):
    page = client.get("/register").get_data(as_text=True)
    data = {"csrf_token": csrf(page), "username": "alice", "email": "alice@example.com", "display_name": "",
            "password": TEST_PASSWORD, "confirm": TEST_PASSWORD, **fields}
    return client.post("/register", data=data)


def account(app, username, email):
    from core.auth.accounts import register as make

    with app.app_context():
        return make(state(app), username=username, email=email, password=TEST_PASSWORD, verified=True)


def bearer(app, user) -> dict[str, str]:
    st = state(app)
    with st.db.session() as s:
        return {"Authorization": f"Bearer {issue_token(st.db, s.get(User, user.id))}"}


# ----------------------------------------------------------------------------- 1. open redirect after login
@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0aSet-Cookie:%20x=1",
                                    "/\t/evil.example", "//evil.example", "/%5Cevil.example",
                                    "https://evil.example/", "/%E2%80%A8/evil.example", "/%7F/evil.example"])
def test_login_next_never_leaves_the_site_and_never_errors(plugdesk_app, target):
    create_user(plugdesk_app, username="nora")
    r = web_login(plugdesk_app.test_client(), "nora", query=f"?next={target}")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location == "/", location  # refused targets go home
    assert "evil" not in location and "\n" not in location and "\r" not in location


def test_a_local_next_still_works(plugdesk_app):
    create_user(plugdesk_app, username="nora")
    r = web_login(plugdesk_app.test_client(), "nora", query="?next=/profile%3Ftab%3D1")
    assert r.status_code == 302 and r.headers["Location"] == "/profile?tab=1"


# ----------------------------------------------------------------------------- 2. unique email addresses
def test_an_address_in_another_case_cannot_be_registered_twice(plugdesk_app):
    create_user(plugdesk_app, username="victim")  # victim@example.com
    r = register(plugdesk_app.test_client(), username="att2", email="VICTIM@Example.com")
    assert r.status_code == 400 and "This address cannot be used" in r.get_data(as_text=True)
    api = plugdesk_app.test_client().post("/api/v1/auth/register", json={
        "username": "att3", "email": "victim@example.com", "password": TEST_PASSWORD})
    assert api.status_code == 422 and "email" in api.get_json()["errors"]
    r = plugdesk_app.test_client().post("/api/v1/auth/login", json={"username": "victim@example.com",
                                                                   "password": TEST_PASSWORD})
    assert r.status_code == 200 and r.get_json()["user"]["username"] == "victim"


def test_a_username_can_never_be_someone_elses_address(plugdesk_app):
    create_user(plugdesk_app, username="victim")
    r = register(plugdesk_app.test_client(), username="Victim@example.com", email="att@example.org")
    assert r.status_code == 400 and "This username cannot be used" in r.get_data(as_text=True)
    # ... and the other way round: an address that is someone's username
    account(plugdesk_app, "boss@corp.example", "boss.private@example.org")
    r = register(plugdesk_app.test_client(), username="sneaky", email="BOSS@corp.example")
    assert r.status_code == 400 and "This address cannot be used" in r.get_data(as_text=True)
    # an account whose username is its own address is fine
    assert register(plugdesk_app.test_client(), username="me@home.example", email="me@home.example").status_code == 302


def test_address_change_to_a_taken_address_or_username_is_refused(plugdesk_app):
    from core.auth.verification import request_change
    from core.users import AccountError

    create_user(plugdesk_app, username="victim")
    account(plugdesk_app, "someone@corp.example", "someone.else@example.org")
    other = create_user(plugdesk_app, username="other")
    for address in ("Victim@example.com", "someone@corp.example"):
        with pytest.raises(AccountError), plugdesk_app.app_context():
            request_change(state(plugdesk_app), other, address)


def test_migration_settles_existing_duplicates(tmp_path):
    import sqlalchemy as sa

    from core.db import make_engine
    from core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'dupes.db'}"
    upgrade(url, "0009_workspace_ids")
    engine = make_engine(url)
    rows = [  # id, username, email, verified
        (1, "first", "Shared@example.com", False), (2, "second", "shared@example.com", True),
        (3, "third", "shared@EXAMPLE.com", False), (4, "victim", "victim@example.com", True),
        (5, "victim@example.com", "att@example.org", False), (6, "loose", "loose@example.com", False),
        (7, "loose@example.com", "own@example.org", True)]
    with engine.begin() as conn:
        for uid, name, email, verified in rows:
            conn.execute(sa.text(
                "INSERT INTO users (id, username, username_key, email, email_key, display_name, role, provider, "
                "is_active, email_verified, must_change_password, session_version, created_at) VALUES "
                "(:i, :n, :nk, :e, :ek, :n, 'user', 'local', 1, :v, 0, 1, '2026-01-01 00:00:00.000000')"),
                {"i": uid, "n": name, "nk": name.casefold(), "e": email, "ek": email.casefold(), "v": verified})
    upgrade(url)
    with engine.connect() as conn:
        users = {r.id: r for r in conn.execute(sa.text("SELECT id, username, email_key FROM users"))}
        audit = conn.execute(sa.text("SELECT action, target FROM audit_log WHERE actor = 'migration'")).all()
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("UPDATE users SET email_key = 'victim@example.com' WHERE id = 6"))
    engine.dispose()
    assert users[2].email_key == "shared@example.com"  # the verified one keeps it
    assert users[1].email_key == "" and users[3].email_key == ""
    assert users[5].username == "user5"  # named after a verified address: renamed
    assert users[6].email_key == "" and users[7].username == "loose@example.com"  # unverified address gives way
    assert ("user.email_dedup", "first") in audit and ("user.rename", "victim@example.com") in audit


# ----------------------------------------------------------------------------- 3. registration rate limit
def test_registrations_per_address_are_limited(plugdesk_app):
    st = state(plugdesk_app)
    assert st.runtime.get("security.registration.ip_limit") == "20 per hour"
    st.runtime.patch({"security.registration.ip_limit": "3 per hour"}, actor="t")
    client = plugdesk_app.test_client()
    for n in range(3):
        assert register(client, username=f"flood{n}", email=f"flood{n}@example.com").status_code == 302
    r = register(client, username="flood9", email="flood9@example.com")
    assert r.status_code == 429
    r = plugdesk_app.test_client().post("/api/v1/auth/register", json={
        "username": "flood10", "email": "flood10@example.com", "password": TEST_PASSWORD})
    assert r.status_code == 429


# ----------------------------------------------------------------------------- 4. reset timing (outbox issue)
def test_reset_request_does_the_same_work_for_known_and_unknown_accounts(plugdesk_app):
    """The request only queues a row: the same SQL runs whether or not the account exists (so timing and
    answer tell nothing)."""
    from core.auth.reset import request_reset

    create_user(plugdesk_app, username="known")
    st = state(plugdesk_app)
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(st.db.engine, "before_cursor_execute", record)
    try:
        with plugdesk_app.test_request_context():
            request_reset(st, "known")
            known = list(seen)
            seen.clear()
            request_reset(st, "nobody-by-this-name")
            unknown = list(seen)
    finally:
        event.remove(st.db.engine, "before_cursor_execute", record)
    assert known == unknown and not any("FROM users" in s for s in known)


# ----------------------------------------------------------------------------- 5. reset token after a change
def test_reset_token_dies_when_the_password_changes_another_way(plugdesk_app):
    from core.auth.accounts import change_password
    from core.auth.reset import complete_reset
    from core.types import RequestInfo

    user = create_user(plugdesk_app, username="pat")
    st = state(plugdesk_app)
    raw = tokens.issue(st.db, user.id, "password_reset", __import__("datetime").timedelta(minutes=30))
    with plugdesk_app.test_request_context():
        change_password(st, user, TEST_PASSWORD, "another long passphrase", RequestInfo())
        with pytest.raises(tokens.TokenError):
            complete_reset(st, raw, "attacker chosen passphrase")
    assert plugdesk_app.test_client().get(f"/password-reset/{raw}").status_code == 400


# ----------------------------------------------------------------------------- 8. upload checked before storing
def test_a_strangers_files_are_refused_before_any_byte_is_stored(plugdesk_app_factory):
    from core.files.models import Blob
    from core.tickets.departments import save_department

    app = plugdesk_app_factory(["auth_local", "storage_fs"])
    st = state(app)
    with st.db.session() as s:
        dept = save_department(s, None, {"name": "Help", "public": True}, actor="t").id
    owner, stranger = create_user(app, username="owner"), create_user(app, username="stranger")
    r = app.test_client().post("/api/v1/tickets", headers=bearer(app, owner),
                               json={"department_id": dept, "subject": "Mine", "body": "private"})
    ticket = r.get_json()["id"]
    data = {"body": "hi", "files": (io.BytesIO(b"stranger bytes " * 100), "note.txt")}
    r = app.test_client().post(f"/api/v1/tickets/{ticket}/messages", headers=bearer(app, stranger), data=data,
                               content_type="multipart/form-data")
    assert r.status_code == 404
    with st.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Blob)) == 0
    stored = [p for p in Path(st.settings.data_dir).rglob("*") if p.is_file() and b"stranger" in p.read_bytes()[:64]]
    assert stored == []
    data = {"department_id": "999999", "subject": "x", "body": "y",
            "files": (io.BytesIO(b"stranger bytes again"), "n.txt")}
    r = app.test_client().post("/api/v1/tickets", headers=bearer(app, stranger), data=data,
                               content_type="multipart/form-data")
    assert r.status_code == 422
    with st.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Blob)) == 0


# ----------------------------------------------------------------------------- 9. memory store purges
def test_memory_store_forgets_expired_keys_nobody_reads_again():
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    for n in range(5000):
        store.hit(f"bf:fail:unknown-user-{n}", 300)
    assert len(store) == 5000
    now[0] += 301 + MemoryStore.PURGE_EVERY
    store.hit("bf:fail:someone", 300)
    assert len(store) == 1


# ----------------------------------------------------------------------------- 10. headers, proxies, exposure
def test_api_answers_with_tokens_or_personal_data_are_not_stored(plugdesk_app):
    user = create_user(plugdesk_app, username="cc")
    client = plugdesk_app.test_client()
    r = client.post("/api/v1/auth/login", json={"username": "cc", "password": TEST_PASSWORD})
    assert r.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/me", headers=bearer(plugdesk_app, user)).headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/me").headers["Cache-Control"] == "no-store"  # even the 401


def test_force_https_redirects_to_base_url_host_not_host_header(plugdesk_app_factory):
    app = plugdesk_app_factory(overrides={"server": {"base_url": "http://help.example.com:8080"}})
    state(app).runtime.patch({"security.force_https": True}, actor="t")
    r = app.test_client().get("/login?next=/x", headers={"Host": "evil.example"})
    assert r.status_code == 301 and r.headers["Location"] == "https://help.example.com/login?next=/x"


def test_gunicorn_trusts_no_forwarded_header_itself():
    from core.serve import gunicorn_options

    options = gunicorn_options("127.0.0.1", 8000, 1)
    assert options["forwarded_allow_ips"] == "" and options["secure_scheme_headers"] == {}


def test_gunicorn_control_socket_is_off() -> None:
    """No ``~/.gunicorn/gunicorn.ctl``: two sites of one user would share it; plugdesk never uses it."""
    from flask import Flask

    from core.serve import _Gunicorn, gunicorn_options

    server = _Gunicorn(Flask("x"), gunicorn_options("127.0.0.1", 8000, 2))
    assert server.cfg.control_socket_disable is True


@pytest.mark.slow
def test_served_forwarded_proto_from_localhost_is_ignored_without_trusted_proxies(live_server):
    import http.client
    import subprocess
    import time

    from tests.conftest import plugdesk_cmd

    site = live_server(workers=1)
    subprocess.run(plugdesk_cmd("--config", str(site["config"]), "settings", "set", "security.force_https", "true"),
                   check=True, capture_output=True)
    time.sleep(1.1)  # runtime settings are cached for up to a second
    host, port = site["url"].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/login", headers={"X-Forwarded-Proto": "https"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 301  # still plain http: redirected, no HSTS
    assert response.getheader("Strict-Transport-Security") is None


def test_customers_do_not_see_who_works_in_a_department(plugdesk_app_factory):
    from core.tickets.departments import save_department

    app = plugdesk_app_factory(["auth_local", "storage_fs"])
    agent, customer = create_user(app, "agent"), create_user(app, "user")
    with state(app).db.session() as s:
        save_department(s, None, {"name": "Help", "public": True, "agent_ids": [agent.id]}, actor="t")
    seen = app.test_client().get("/api/v1/departments", headers=bearer(app, customer)).get_json()["items"]
    assert seen and all("agent_ids" not in d for d in seen)
    staff = app.test_client().get("/api/v1/departments", headers=bearer(app, agent)).get_json()["items"]
    assert staff[0]["agent_ids"] == [agent.id]


def test_kb_doc_and_code_agree_that_published_attachments_are_public():
    text = (ROOT / "docs" / "kb.md").read_text()
    assert "only serves downloads to logged-in users" not in text
    assert "files of a **published** article are public" in text
    source = (ROOT / "tests" / "kb" / "test_attachments.py").read_text()  # the code side is proved there
    assert 'anonymous.get(f"/attachments/{ids[one.id]}").status_code == 200' in source


def test_lockout_audit_still_written_for_password_failures(plugdesk_app):
    create_user(plugdesk_app, username="dora")
    state(plugdesk_app).runtime.patch({"security.brute_force.max_failures": 2}, actor="t")
    client = plugdesk_app.test_client()
    for _ in range(2):
        client.post("/api/v1/auth/login", json={"username": "dora", "password": "wrong wrong wrong"})
    with state(plugdesk_app).db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.lockout")) == 1
