"""The outbox with a real SMTP listener (aiosmtpd): same transaction, no token in the database, threaded
notifications, permanent and temporary failures, an SMTP server that is down and comes back."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update

from core.models import User, utcnow
from core.outbox import deliver_now, joining
from core.outbox.models import OutboxMessage
from core.testing import create_user, deliver_mail
from tests.outbox.conftest import smtp_url
from tests.realservers import free_port
from tests.tickets.conftest import PLUGINS, Desk


def make_app(factory, url, **extra):
    overrides = {"mail": {"url": url, "sender": "Help Desk <help@example.com>"},
                 "server": {"base_url": "https://help.example.com"}, **extra}
    return factory(PLUGINS, overrides=overrides)


def rows(app, **where):
    with app.extensions["plugdesk"].db.session() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, key) == value)
        return list(s.scalars(stmt))


def plain(message):
    return message["msg"].get_body(("plain",)).get_content()


def test_reset_requests_only_write_rows_and_unknown_accounts_leave_no_trace(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    create_user(app, username="kim")
    client = app.test_client()
    for login in ("kim", "nobody-at-all", "kim@example.com"):
        assert client.post("/api/v1/auth/password-reset", json={"login": login}).status_code == 202
    assert sink.messages == []  # nothing went to SMTP during the requests
    queued = rows(app)
    assert [r.kind for r in queued] == ["password_reset"] * 3 and all(r.state == "queued" for r in queued)
    report = deliver_mail(app)
    assert (report.sent, report.dropped) == (2, 1)
    assert [m["to"] for m in sink.messages] == [["kim@example.com"]] * 2
    assert all(r.state == "sent" for r in rows(app)) and len(rows(app)) == 2  # the unknown login is gone


def test_no_usable_token_in_a_database_dump(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    create_user(app, username="lee")
    app.test_client().post("/api/v1/auth/password-reset", json={"login": "lee"})
    create_user(app, username="max", verified=False)  # registration queues a verification link
    deliver_mail(app)
    tokens = [re.search(r"/(?:password-reset|verify-email)/(\S+)", plain(m)).group(1) for m in sink.messages]
    assert len(tokens) == 2
    db_file = app.extensions["plugdesk"].settings.data_dir / "plugdesk.db"
    with sqlite3.connect(db_file) as conn:
        dump = "\n".join(conn.iterdump())
    assert "lee@example.com" in dump and not any(t in dump for t in tokens)
    r = app.test_client().post("/api/v1/auth/password-reset/confirm",
                               json={"token": tokens[0], "password": "a brand new passphrase"})
    assert r.status_code == 204  # the emailed link works


def test_mail_joins_the_transaction_of_its_event(plugdesk_app_factory, smtp_server):
    app = make_app(plugdesk_app_factory, smtp_url(smtp_server()))
    st = app.extensions["plugdesk"]
    with pytest.raises(RuntimeError), st.db.session() as s, joining(s):
        st.ctx.mail.send("ann@example.com", "never", "rolled back with its event")
        raise RuntimeError("the event failed")
    assert rows(app) == []

    seen_inside: list[int] = []
    spy = create_engine(st.db.engine.url)

    class Spy:
        from core import hookimpl

        @hookimpl
        def ticket_replied(self, ticket, message, ctx):
            ctx.mail.send("spy@example.com", "during the reply", "x", ticket_id=ticket.id)
            with spy.connect() as conn:  # another connection cannot see it before the reply commits
                seen_inside.append(conn.execute(text("SELECT count(*) FROM mail_outbox")).scalar())

    app = make_app(plugdesk_app_factory, smtp_url(smtp_server()))
    app.extensions["plugdesk"].host.pm.register(Spy(), "spy")
    desk = Desk(app)
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    tid = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "S", "department_id": dept,
                                                          "body": "B"}).get_json()["id"]
    desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "answer"})
    assert seen_inside and seen_inside[-1] == 0
    assert {r.to_addr for r in rows(app)} >= {"spy@example.com", f"{cust.username}@example.com"}
    spy.dispose()


def test_threaded_notifications_with_reply_to_and_crlf_in_subject(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    desk = Desk(app)
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Sales Café", [agent], email="sales@example.com")
    tid = desk.api(cust)("POST", "/api/v1/tickets", json={
        "subject": "Invoice\r\nBcc: victim@example.org", "department_id": dept, "body": "B"}).get_json()["id"]
    for body in ("First answer", "Second answer"):
        assert desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": body}).status_code == 201
    deliver_mail(app)
    first, second = (m["msg"] for m in sink.messages)
    assert b"\r\nBcc:" not in sink.messages[0]["raw"] and first["Bcc"] is None
    assert first["Subject"].startswith(f"[#{tid}] ") and "Invoice Bcc: victim@example.org" in first["Subject"]
    assert first["Message-ID"] != second["Message-ID"]
    root = first["References"].split()[0]
    assert first["In-Reply-To"] == root and root.startswith(f"<ticket-{tid}.")
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"].split() == [root, first["Message-ID"]]
    assert second["Reply-To"].addresses[0].addr_spec == "sales@example.com"
    assert second["Reply-To"].addresses[0].display_name == "Sales Café"
    assert second["Auto-Submitted"] == "auto-generated" and second["X-Plugdesk-Ticket"] == str(tid)
    assert "Second answer" in second.get_body(("plain",)).get_content()
    assert "Second answer" in second.get_body(("html",)).get_content()
    assert rows(app, ticket_id=tid)[1].message_id == second["Message-ID"]  # replies will find the ticket


def test_department_address_is_validated(plugdesk_app_factory):
    app = make_app(plugdesk_app_factory, "")
    desk = Desk(app)
    from core.tickets.departments import DepartmentInvalid

    with pytest.raises(DepartmentInvalid) as exc:
        desk.department("Bad", email="sales@example.com\r\nBcc: x@y.org")
    assert "email" in exc.value.errors


def test_non_ascii_and_crlf_display_name_of_a_reset_mail(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    user = create_user(app, username="jurgen")
    with app.extensions["plugdesk"].db.session() as s:
        s.execute(update(User).where(User.id == user.id).values(display_name="Jürgen\r\nBcc: evil@example.org"))
    app.test_client().post("/api/v1/auth/password-reset", json={"login": "jurgen"})
    deliver_mail(app)
    raw = sink.messages[0]["raw"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"\r\nBcc:" not in head and sink.messages[0]["msg"]["Bcc"] is None
    assert sink.messages[0]["msg"]["To"].addresses[0].display_name == "Jürgen Bcc: evil@example.org"


def test_permanent_5xx_fails_at_once_with_the_reason_and_4xx_is_retried(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    sink.refuse = {"gone@example.com": "550 5.1.1 No such user here", "busy@example.com": "451 4.3.0 Try later"}
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    mailer = app.extensions["plugdesk"].ctx.mail
    for to in ("gone@example.com", "busy@example.com", "fine@example.com"):
        mailer.send(to, "Hello", "Body")
    report = deliver_mail(app)
    assert (report.sent, report.failed, report.retrying) == (1, 1, 1)
    gone, busy, fine = rows(app)
    assert gone.state == "failed" and "550 5.1.1 No such user here" in gone.last_error and gone.attempts == 1
    assert busy.state == "queued" and "451" in busy.last_error
    assert 40 <= (busy.next_attempt_at - utcnow()).total_seconds() <= 80  # 60 s +/- 25 % jitter
    assert fine.state == "sent"
    assert deliver_mail(app).sent == 0  # not due yet
    sink.refuse.clear()
    assert deliver_now(app.extensions["plugdesk"], now=utcnow() + timedelta(minutes=5)).sent == 1
    assert rows(app)[1].state == "sent" and rows(app)[1].attempts == 2


def test_invalid_recipients_are_refused_when_queued(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    mailer = app.extensions["plugdesk"].ctx.mail
    for bad in ("ann@example.com\r\nBcc: x@example.org", "not an address", ""):
        mailer.send(bad, "Hi", "Body")
    assert [r.state for r in rows(app)] == ["failed"] * 3
    assert all(r.last_error.startswith("not sent:") for r in rows(app))
    assert deliver_mail(app).claimed == 0 and sink.messages == []


@pytest.mark.slow
def test_smtp_down_while_50_queued_then_up_each_delivered_exactly_once(plugdesk_app_factory, smtp_server):
    port = free_port()
    app = make_app(plugdesk_app_factory, f"smtp://127.0.0.1:{port}")
    st = app.extensions["plugdesk"]
    for i in range(50):
        st.ctx.mail.send(f"customer{i}@example.com", f"Ticket update {i}", f"Body {i}")
    report = deliver_mail(app)
    assert report.retrying == 50 and "unreachable" in report.errors[0]
    assert {r.state for r in rows(app)} == {"queued"}
    sink = smtp_server(port=port)  # the mail server is back
    later = utcnow() + timedelta(hours=1)
    assert deliver_now(st, now=later).sent == 50
    assert deliver_now(st, now=later + timedelta(hours=1)).sent == 0
    counts = sink.message_ids()
    assert len(counts) == 50 and set(counts.values()) == {1}
    assert {r.message_id for r in rows(app)} == set(counts)


def test_still_undelivered_at_the_deadline_fails_with_the_last_reason(plugdesk_app_factory):
    app = make_app(plugdesk_app_factory, f"smtp://127.0.0.1:{free_port()}")
    st = app.extensions["plugdesk"]
    st.ctx.mail.send("ann@example.com", "Hi", "Body")
    deliver_mail(app)
    assert deliver_now(st, now=utcnow() + timedelta(hours=49)).failed == 1
    row = rows(app)[0]
    assert row.state == "failed" and row.last_error.startswith("gave up after 2 attempts: ")


def test_a_crash_mid_send_is_retried_by_the_next_claimer(plugdesk_app_factory, smtp_server):
    sink = smtp_server()
    app = make_app(plugdesk_app_factory, smtp_url(sink))
    st = app.extensions["plugdesk"]
    st.ctx.mail.send("ann@example.com", "Hi", "Body")
    with st.db.session() as s:  # what a worker killed between claim and send leaves behind
        s.execute(update(OutboxMessage).values(state="sending", claimed_by="dead-host:1:x", attempts=1))
    assert deliver_mail(app).sent == 1
    assert rows(app)[0].state == "sent" and rows(app)[0].attempts == 2 and len(sink.messages) == 1


def test_moderation_notice_is_queued_with_the_decision(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local", "moderation_newusers"])
    st = app.extensions["plugdesk"]
    from core.community import service
    from core.community.models import CommunityPost

    author = create_user(app, username="newbie")
    moderator = create_user(app, "agent")
    with st.db.session() as s:
        post = CommunityPost(kind="thread", title="Cheap", body_html="<p>x</p>", author_id=author.id,
                             status="pending")
        s.add(post)
        s.flush()
        post_id = post.id
        mod = s.get(User, moderator.id)
    service.decide(st, mod, post_id, approve=False, message="No ads.")
    (row,) = rows(app)
    assert row.to_addr == "newbie@example.com" and row.related == f"community_post:{post_id}"
    assert "No ads." in row.text_body
    with st.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
