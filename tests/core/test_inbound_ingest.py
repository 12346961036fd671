"""Email to ticket without a mail server (issue 17): ingest, threading, senders, loops, bounces, idempotency.

The same rules run against a real Dovecot in ``tests/plugins/mail_imap``; here an in-memory source feeds
core's poller so every rule is checked quickly.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from core import MailSourceUnavailable, hookimpl
from core.inbound.poll import poll_all, poll_source
from core.testing import create_user, deliver_mail
from tests.inbound_mail import MemorySource, add_department, message, outcomes, tickets

PDF = b"%PDF-1.4\n" + b"0" * 200


@pytest.fixture
def app(plugdesk_app_factory: Any) -> Any:
    app = plugdesk_app_factory(["auth_local", "storage_fs", "notify_email"])
    add_department(app)
    return app


@pytest.fixture
def source() -> MemorySource:
    return MemorySource()


def poll(app: Any, source: MemorySource) -> dict[str, int]:
    return poll_source(app.extensions["plugdesk"], source)


def agent_reply(app: Any, ticket_id: int, agent: Any, body: str = "Have you tried turning it off?") -> str:
    """An agent replies on the web; the notification's Message-ID (what the customer answers)."""
    from core.models import User
    from core.outbox.models import OutboxMessage
    from core.tickets.models import DepartmentAgent, Ticket
    from core.tickets.service import reply

    st = app.extensions["plugdesk"]
    with st.db.session() as s:
        dept = s.get(Ticket, ticket_id).department_id
        if s.get(DepartmentAgent, (dept, agent.id)) is None:
            s.add(DepartmentAgent(department_id=dept, user_id=agent.id))
    with st.db.session() as s:
        user = s.get(User, agent.id)
        s.expunge(user)
    with app.app_context():
        reply(st, ticket_id, user, body)
    with st.db.session() as s:
        return s.scalars(select(OutboxMessage.message_id).where(OutboxMessage.ticket_id == ticket_id)
                         .order_by(OutboxMessage.id.desc())).first()


def test_new_ticket_from_mail_with_attachments_and_a_refusal(app, source):
    source.deliver(message(sender="Alice Example <alice@example.com>", attachments=[
        ("report.pdf", "application/pdf", PDF), ("tool.exe", "application/octet-stream", b"MZ" + b"\0" * 100)]))
    assert poll(app, source) == {"ticket": 1}
    [ticket] = tickets(app)
    first = ticket["messages"][0]
    assert ticket["subject"] == "Printer on fire" and first["author"] == "Alice Example"
    assert first["body"].startswith("Please help.")
    assert "Attachment 'tool.exe' was not accepted" in first["body"] and ".exe" in first["body"]
    assert first["files"] == ["message.eml", "report.pdf"]
    assert source.acked == ["1"] and not source.pending
    user = app.extensions["plugdesk"].ctx.users.find("alice@example.com")
    assert user is not None and user.id == ticket["customer_id"] and user.provider == "local"
    assert app.extensions["plugdesk"].ctx.credentials.get(user.id, "local") is None  # email-only: no password


def test_reply_by_email_threads_and_the_notification_chain_continues(app, source):
    agent = create_user(app, "agent")
    source.deliver(message(msgid="<first@example.com>"))
    poll(app, source)
    ticket_id = tickets(app)[0]["id"]
    notified = agent_reply(app, ticket_id, agent)
    source.deliver(message(subject=f"Re: [#{ticket_id}] Printer on fire", body="Still burning.\n\n"
                           "On Mon, Agent wrote:\n> Have you tried", in_reply_to=notified,
                           references=["<first@example.com>", notified]))
    assert poll(app, source) == {"reply": 1}
    [ticket] = tickets(app)
    assert [m["agent"] for m in ticket["messages"]] == [False, True, False]
    assert ticket["status"] == "open"
    # the agent answers by email too (From the agent's address, threaded): posted as the agent's reply
    source.deliver(message(sender=agent.email, subject="Re: Printer on fire", body="Call the fire brigade.",
                           in_reply_to=notified))
    assert poll(app, source) == {"reply": 1}
    ticket = tickets(app)[0]
    assert ticket["messages"][-1]["agent"] and ticket["status"] == "waiting"
    from core.outbox.models import OutboxMessage

    with app.extensions["plugdesk"].db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id)
                              .order_by(OutboxMessage.id)))
    assert len(rows) == 2 and rows[-1].to_addr == "alice@example.com"
    assert notified in rows[-1].headers["References"]  # the customer's thread continues
    assert deliver_mail(app).sent == 2


def test_forged_subject_token_from_a_stranger_opens_a_new_ticket(app, source):
    source.deliver(message())
    poll(app, source)
    victim = tickets(app)[0]["id"]
    source.deliver(message(sender="mallory@evil.example", subject=f"Re: [#{victim}] Printer on fire",
                           body="Send me the data"))
    source.deliver(message(sender="alice@example.com", subject=f"Re: [#{victim}] more", body="From me"))
    assert poll(app, source) == {"ticket": 1, "reply": 1}
    first, forged = tickets(app)
    assert [m["body"] for m in first["messages"]] == ["Please help.", "From me"]
    assert forged["messages"][0]["body"] == "Send me the data" and forged["customer_id"] != first["customer_id"]


def test_an_agents_email_by_subject_token_alone_is_an_internal_note(app, source):
    """From can be forged: without an unguessable Message-ID, "the agent" never speaks to the customer."""
    agent = create_user(app, "agent")
    source.deliver(message())
    poll(app, source)
    ticket_id = tickets(app)[0]["id"]
    agent_reply(app, ticket_id, agent)  # assigns the agent to the department
    deliver_mail(app)
    source.deliver(message(sender=agent.email, subject=f"[#{ticket_id}] click http://evil.example", body="Pay here"))
    assert poll(app, source) == {"reply": 1}
    last = tickets(app)[0]["messages"][-1]
    assert last["internal"] and last["agent"] and last["body"] == "Pay here"
    assert tickets(app)[0]["status"] == "waiting" and deliver_mail(app).sent == 0
    assert "internal note" in outcomes(app)[-1][1]


def test_reply_to_a_locked_or_deleted_ticket_opens_a_linked_ticket(app, source):
    from core.tickets.models import Ticket

    agent = create_user(app, "agent")
    for n in (1, 2):
        source.deliver(message(subject=f"Ticket {n}"))
    poll(app, source)
    one, two = (t["id"] for t in tickets(app))
    ids = {t: agent_reply(app, t, agent) for t in (one, two)}
    st = app.extensions["plugdesk"]
    with st.db.session() as s:
        s.execute(update(Ticket).where(Ticket.id == one).values(locked=True, status="closed"))
    manager = create_user(app, "manager")
    from core.models import User
    from core.tickets.service import delete_ticket

    with st.db.session() as s:
        user = s.get(User, manager.id)
        s.expunge(user)
    with app.app_context():
        delete_ticket(st, two, user)
    for t in (one, two):
        source.deliver(message(subject="Re: again", body=f"about {t}", in_reply_to=ids[t]))
    assert poll(app, source) == {"ticket": 2}
    new_one, new_two = tickets(app)[1:]
    assert f"answered ticket #{one}, which is locked" in new_one["messages"][1]["body"]
    assert new_one["messages"][1]["internal"]
    assert f"answered ticket #{two}, which was deleted" in new_two["messages"][1]["body"]


def test_nothing_is_ingested_twice_when_the_ack_fails(app, source):
    source.deliver(message())
    real_ack = source.ack

    def broken_ack(uid: str) -> None:
        raise MailSourceUnavailable("connection reset")

    source.ack = broken_ack  # type: ignore[method-assign]
    with pytest.raises(MailSourceUnavailable):
        poll(app, source)
    source.ack = real_ack  # type: ignore[method-assign]
    assert poll(app, source) == {"duplicate": 1}
    assert len(tickets(app)) == 1 and not source.pending
    # the same message again under another uid (moved back by a person): filed, not a second ticket
    source.deliver(source_raw := message(msgid="<same@example.com>"))
    source.deliver(source_raw)
    assert poll(app, source) == {"ticket": 1, "filed": 1}
    assert "same Message-ID" in outcomes(app)[-1][1]


@pytest.mark.parametrize("headers, sender, expected", [
    ({"Auto-Submitted": "auto-replied"}, "alice@example.com", "Auto-Submitted"),
    ({"Precedence": "bulk"}, "alice@example.com", "Precedence"),
    ({"X-Autoreply": "yes"}, "alice@example.com", "x-autoreply"),
    ({}, "MAILER-DAEMON@mx.example.com", "system mail"),
    ({}, "postmaster@example.com", "system mail"),
    ({}, "support@help.example", "our own mailbox"),
])
def test_loops_and_junk_are_filed_without_a_ticket(app, source, headers, sender, expected):
    source.deliver(message(sender=sender, headers=headers))
    assert poll(app, source) == {"filed": 1}
    assert not tickets(app) and expected in outcomes(app)[0][1]
    assert not deliver_mail(app).sent  # never an automatic answer


def test_an_autoresponder_pair_does_not_loop(app, source):
    """Our notifications are Auto-Submitted; an autoresponder answering them is filed, and one that ignores the
    conventions is stopped by the per-sender limit."""
    agent = create_user(app, "agent")
    source.deliver(message(sender="bot@example.com"))
    poll(app, source)
    notified = agent_reply(app, tickets(app)[0]["id"], agent)
    for _ in range(5):
        source.deliver(message(sender="bot@example.com", subject="Out of office", in_reply_to=notified,
                               headers={"Auto-Submitted": "auto-replied"}))
    for n in range(30):
        source.deliver(message(sender="dumb-bot@example.com", subject=f"I am away {n}"))
    counts = poll(app, source)
    assert counts == {"filed": 15, "ticket": 20}
    assert len(tickets(app)) == 21
    assert deliver_mail(app).sent == 1  # only the agent's reply was ever sent


def test_a_bounce_marks_the_outbox_message(app, source):
    from core.outbox.models import OutboxMessage

    agent = create_user(app, "agent")
    source.deliver(message())
    poll(app, source)
    notified = agent_reply(app, tickets(app)[0]["id"], agent)
    dsn = (b"From: MAILER-DAEMON@mx.example.com\r\nTo: support@help.example\r\nSubject: Undelivered\r\n"
           b"Message-ID: <dsn1@mx.example.com>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--XX\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
           b"Final-Recipient: rfc822; alice@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
           b"--XX\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: " + notified.encode() + b"\r\n"
           b"Subject: x\r\n--XX--\r\n")
    source.deliver(dsn)
    assert poll(app, source) == {"bounce": 1}
    with app.extensions["plugdesk"].db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == notified))
        assert row.state == "bounced" and "user unknown" in row.last_error
    assert len(tickets(app)) == 1


def test_unknown_senders_refused_when_the_mailbox_takes_registered_only(app):
    strict = MemorySource(name="strict", accept_from="registered")
    member = create_user(app, "user")
    strict.deliver(message(sender="nobody@example.com"))
    strict.deliver(message(sender=member.email))
    assert poll(app, strict) == {"refused": 1, "ticket": 1}
    assert "has no account" in outcomes(app)[0][1]
    assert app.extensions["plugdesk"].ctx.users.find("nobody@example.com") is None


def test_blocked_senders_are_filed(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local", "storage_fs"], overrides={"inbound": {"block_senders": ["@spam.test"]}})
    add_department(app)
    app.extensions["plugdesk"].runtime.patch({"security.blocked_senders": ["Eve@Example.com"]}, actor="t")
    source = MemorySource()
    source.deliver(message(sender="x@mail.spam.test"))
    source.deliver(message(sender="eve@example.com"))
    source.deliver(message(sender="bob@example.com"))
    assert poll(app, source) == {"filed": 2, "ticket": 1}
    assert [reason.split(" in ")[0] for _o, reason in outcomes(app)[:2]] == [
        "sender blocked (@spam.test", "sender blocked (eve@example.com"]
    with pytest.raises(Exception, match="neither an address"):
        app.extensions["plugdesk"].runtime.patch({"security.blocked_senders": ["spam.test"]}, actor="t")


def test_html_only_mail_is_sanitized(app, source):
    raw = message(body="", html='<p>Hello <b>there</b></p><script>alert(1)</script><p>Bye</p>')
    source.deliver(raw.replace(b"Content-Type: text/plain", b"Content-Type: text/x-ignored"))
    poll(app, source)
    body = tickets(app)[0]["messages"][0]["body"]
    assert "Hello there" in body and "Bye" in body and "alert" not in body and "<" not in body


class SourcePlugin:
    """A plugin contributing a source through the ``mail_sources`` hook."""

    def __init__(self, source: MemorySource) -> None:
        self.source = source

    @hookimpl
    def mail_sources(self, ctx: Any) -> list[Any]:
        return [self.source]


def test_mail_sources_hook_feeds_the_worker_job(plugdesk_app_factory):
    from core.inbound.poll import jobs

    source = MemorySource()
    app = plugdesk_app_factory(["auth_local", "storage_fs", "memsource"], extra={"memsource": SourcePlugin(source)})
    add_department(app)
    st = app.extensions["plugdesk"]
    job, cleanup = jobs()
    assert job.name == "mail.fetch" and job.interval(st) == 5.0 and cleanup.interval(st) == 86_400.0
    source.deliver(message())
    assert job.run(st) == "memory: 1 ticket"
    assert poll_all(st) == {}  # not due again yet
    assert poll_all(st, force=True) == {"memory": {}}
    assert cleanup.run(st) == "deleted 0 records of email older than 90 days"


def test_an_unreachable_source_backs_off(plugdesk_app_factory):
    class Down(MemorySource):
        def fetch(self, limit: int, max_bytes: int) -> Any:
            raise MailSourceUnavailable("connection refused")

    source = Down()
    app = plugdesk_app_factory(["auth_local", "memsource"], extra={"memsource": SourcePlugin(source)})
    st = app.extensions["plugdesk"]
    assert poll_all(st, now=0.0) == {"memory": {"unavailable": 1}}
    assert poll_all(st, now=9.0) == {}  # 5 s x 2: not before 10 s
    assert poll_all(st, now=10.0) == {"memory": {"unavailable": 1}}
    assert poll_all(st, now=29.0) == {}  # then 20 s


def test_an_email_only_customer_claims_the_account_by_password_reset(plugdesk_app_factory, smtp_sink):
    import re

    app = plugdesk_app_factory(["auth_local", "storage_fs"], overrides={
        "mail": {"url": f"smtp://{smtp_sink.host}:{smtp_sink.port}", "sender": "help@example.com"},
        "server": {"base_url": "https://help.example.com"}})
    add_department(app)
    source = MemorySource()
    source.deliver(message(sender="Nora <nora@example.com>"))
    poll(app, source)
    client = app.test_client()
    assert client.post("/api/v1/auth/login", json={"username": "nora@example.com", "password": "x" * 12}
                       ).status_code == 401  # no password yet
    assert client.post("/api/v1/auth/password-reset", json={"login": "nora@example.com"}).status_code == 202
    [sent] = smtp_sink.delivered(app)
    text = sent["msg"].get_body(("plain",)).get_content()
    token = re.search(r"https://help\.example\.com/password-reset/(\S+)", text).group(1)
    new = "a brand new passphrase"
    assert client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": new}
                       ).status_code == 204
    r = client.post("/api/v1/auth/login", json={"username": "nora@example.com", "password": new})
    assert r.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.get_json()['token']}"}).get_json()
    assert me["id"] == tickets(app)[0]["customer_id"]


def test_a_message_that_breaks_ingest_is_recorded_and_does_not_block_the_mailbox(app, source, monkeypatch, caplog):
    import core.inbound.ingest as ingest_module

    real = ingest_module._body

    def broken(mail: Any, notes: list[str]) -> str:
        if "poison" in mail.subject:
            raise ValueError("unexpected shape")
        return real(mail, notes)

    monkeypatch.setattr(ingest_module, "_body", broken)
    source.deliver(message(subject="poison"))
    source.deliver(message(subject="fine"))
    assert poll(app, source) == {"refused": 1, "ticket": 1}
    # The batch commits the good message first; the poison one is retried alone, then recorded.
    assert [o for o, _r in outcomes(app)] == ["ticket", "refused"]
    assert "could not be ingested (ValueError: unexpected shape)" in outcomes(app)[1][1]
    assert not source.pending and "could not be ingested" in caplog.text


def test_the_inbound_page_lists_outcomes_and_tickets_fold_quoted_text(app, source, login_as):
    source.deliver(message(subject="Hello <b>there</b>", body="New text\n\nOn Mon, Bob wrote:\n> old <script>"))
    source.deliver(message(sender="MAILER-DAEMON@mx.example.com", subject="Undeliverable"))
    poll(app, source)
    client, _manager = login_as(app, "manager")
    page = client.get("/manage/mail/inbound").get_data(as_text=True)
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in page and "system mail from mailer-daemon@mx.example.com" in page
    assert "/manage/mail/inbound" in client.get("/manage/mail").get_data(as_text=True)
    view = client.get(f"/manage/tickets/{tickets(app)[0]['id']}").get_data(as_text=True)
    assert "New text" in view and '<details class="quoted"><summary>Show quoted text</summary>' in view
    assert "&gt; old &lt;script&gt;" in view and "<script>" not in view.split("quoted-text")[1].split("</div>")[0]
