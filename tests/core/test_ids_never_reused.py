"""Ids that reach users are never reused on SQLite: AUTOINCREMENT tables, created by the models and by the
migration that rebuilds existing tables without losing a row (nor, through foreign keys, rows elsewhere)."""

from __future__ import annotations

import sqlite3

from core.migrate import upgrade
from core.models import User
from core.testing import create_user
from core.tickets import service
from core.tickets.departments import save_department

AUTOINCREMENT_TABLES = ("users", "api_tokens", "audit_log", "departments", "tickets", "ticket_messages",
                        "ticket_events", "kb_categories", "kb_articles", "kb_feedback", "community_categories",
                        "community_posts", "attachments", "canned_responses", "mail_outbox")


def declared_autoincrement(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                if sql and "AUTOINCREMENT" in sql}


def test_deleting_the_newest_ticket_never_gives_its_number_to_the_next(plugdesk_app):
    st = plugdesk_app.extensions["plugdesk"]
    ids = create_user(plugdesk_app).id, create_user(plugdesk_app, "manager").id
    with st.db.session() as s:
        dept = save_department(s, None, {"name": "Support"}, actor="test").id
        customer, manager = (s.get(User, i) for i in ids)
    with plugdesk_app.test_request_context():
        first = service.create_ticket(st, user=customer, department_id=dept, subject="One", body="b")
        newest = service.create_ticket(st, user=customer, department_id=dept, subject="Two", body="b")
        service.delete_ticket(st, newest, manager)
        following = service.create_ticket(st, user=customer, department_id=dept, subject="Three", body="b")
    assert (first, newest) == (1, 2) and following == 3


def test_models_declare_autoincrement(plugdesk_app):
    path = plugdesk_app.extensions["plugdesk"].settings.get("database", "url").removeprefix("sqlite:///")
    assert set(AUTOINCREMENT_TABLES) <= declared_autoincrement(path)


def test_migration_rebuilds_tables_keeping_rows_ids_and_foreign_rows(tmp_path):
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0008_external_logins")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO users (id, username, username_key, email, email_key, display_name, role, provider,"
                     " is_active, email_verified, must_change_password, session_version, created_at) VALUES "
                     "(1, 'Ann', 'ann', 'a@x.org', 'a@x.org', 'Ann', 'user', 'local', 1, 1, 0, 1, "
                     "'2024-01-01 00:00:00')")
        conn.execute("INSERT INTO credentials (user_id, provider, secret, updated_at) VALUES "
                     "(1, 'local', 'hash', '2024-01-01 00:00:00')")
        conn.execute("INSERT INTO departments (id, name, description, public, created_at, email) VALUES "
                     "(1, 'Support', '', 1, '2024-01-01 00:00:00', '')")
        for number in (1, 2):
            conn.execute("INSERT INTO tickets (id, subject, department_id, customer_id, guest_email, status, locked,"
                         " created_at, updated_at) VALUES (?, 's', 1, 1, '', 'open', 0, '2024-01-01 00:00:00',"
                         " '2024-01-01 00:00:00')", (number,))
        conn.execute("INSERT INTO kb_articles (id, title, slug, body_html, body_text, published, created_at, "
                     "updated_at, source_guid) VALUES (7, 't', 't', '', '', 1, '2024-01-01 00:00:00', "
                     "'2024-01-01 00:00:00', 'kbarticle1')")
    upgrade(url)
    assert set(AUTOINCREMENT_TABLES) <= declared_autoincrement(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        assert conn.execute("SELECT count(*) FROM credentials").fetchone()[0] == 1  # no cascade on the rebuild
        assert conn.execute("SELECT customer_id FROM tickets WHERE id = 2").fetchone()[0] == 1  # no SET NULL
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT source_feed, body_format FROM kb_articles WHERE id = 7").fetchone() == ("",
                                                                                                        "html")
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'tickets' AND "
                                              "type = 'index' AND sql LIKE '%WHERE%'")}
        assert indexes == {"ix_tickets_customer_id", "ix_tickets_assignee_id"}  # partial indexes kept
        conn.execute("DELETE FROM tickets WHERE id = 2")
        conn.execute("INSERT INTO tickets (subject, department_id, guest_email, status, locked, created_at, "
                     "updated_at) VALUES ('n', 1, '', 'open', 0, '2024-01-02 00:00:00', '2024-01-02 00:00:00')")
        assert conn.execute("SELECT max(id) FROM tickets").fetchone()[0] == 3


def test_outbox_rebuilt_keeping_its_rows_and_never_reusing_an_id(tmp_path):
    path = tmp_path / "outbox.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0011_inbound_mail")
    row = ("INSERT INTO mail_outbox (created_at, updated_at, kind, state, to_addr, to_name, subject, text_body, "
           "message_id, related, attempts, next_attempt_at, deadline_at, claimed_by, last_error) VALUES "
           "('2024-01-01 00:00:00', '2024-01-01 00:00:00', 'mail', 'sent', 'a@x.org', '', ?, 'b', ?, '', 1, "
           "'2024-01-01 00:00:00', '2024-01-03 00:00:00', '', '')")
    with sqlite3.connect(path) as conn:
        for number in (1, 2):
            conn.execute(row, (f"s{number}", f"<m{number}@x.org>"))
    upgrade(url)
    assert "mail_outbox" in declared_autoincrement(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, subject FROM mail_outbox ORDER BY id").fetchall() == [(1, "s1"), (2, "s2")]
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'mail_outbox' AND "
                                           "type = 'index'")} >= {"ix_mail_outbox_state_due"}
        conn.execute("DELETE FROM mail_outbox WHERE id = 2")  # dropped, or cleaned up after keep_sent_days
        conn.execute(row, ("s3", "<m3@x.org>"))
        assert conn.execute("SELECT max(id) FROM mail_outbox").fetchone()[0] == 3
