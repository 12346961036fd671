"""Email to ticket through a real Dovecot (issue 17): tickets with attachments, replies that thread and continue
the notification chain, forged ticket tokens, a server restart mid-poll, 500 messages, autoresponders,
connection tests and TLS checks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.inbound.poll import poll_all, sources
from core.testing import create_user, deliver_mail
from tests.core.test_inbound_ingest import PDF, agent_reply
from tests.inbound_mail import message, outcomes, tickets
from tests.plugins.mail_imap.dovecot import Dovecot

pytestmark = pytest.mark.slow


def poll(app: Any) -> dict[str, int]:
    st = app.extensions["plugdesk"]
    return poll_all(st, force=True).get(sources(st)[0].name, {})


def test_new_ticket_from_mail_with_attachments(imap_app, dovecot: Dovecot, mailbox: str):
    app = imap_app()
    dovecot.append(mailbox, message(sender="Alice <alice@example.com>", attachments=[
        ("report.pdf", "application/pdf", PDF), ("run.bat", "application/octet-stream", b"@echo off")]))
    assert poll(app) == {"ticket": 1}
    [ticket] = tickets(app)
    assert ticket["messages"][0]["files"] == ["message.eml", "report.pdf"]
    assert "'run.bat' was not accepted" in ticket["messages"][0]["body"]
    assert dovecot.count(mailbox, "UNSEEN") == 0 and dovecot.count(mailbox) == 1  # ack = seen
    assert poll(app) == {}  # nothing new


def test_reply_by_email_threads_and_the_customers_chain_continues(imap_app, dovecot: Dovecot, mailbox: str):
    app = imap_app(ack="delete")
    agent = create_user(app, "agent")
    dovecot.append(mailbox, message(msgid="<start@example.com>"))
    poll(app)
    ticket_id = tickets(app)[0]["id"]
    first = agent_reply(app, ticket_id, agent, "Which model?")
    assert deliver_mail(app).sent == 1
    dovecot.append(mailbox, message(subject=f"Re: [#{ticket_id}] Printer on fire", body="Model 42.\n\n"
                                    "On Tue, Agent wrote:\n> Which model?", in_reply_to=first,
                                    references=["<start@example.com>", first]))
    assert poll(app) == {"reply": 1}
    second = agent_reply(app, ticket_id, agent, "Replace the fuser.")
    from core.outbox.models import OutboxMessage

    with app.extensions["plugdesk"].db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == second))
        assert row.headers["In-Reply-To"] == first and first in row.headers["References"]
    assert [m["body"].split("\n")[0] for m in tickets(app)[0]["messages"]] == [
        "Please help.", "Which model?", "Model 42.", "Replace the fuser."]
    assert dovecot.count(mailbox) == 0  # ack = delete expunged both


def test_forged_ticket_token_from_a_stranger_opens_a_new_ticket(imap_app, dovecot: Dovecot, mailbox: str):
    app = imap_app()
    dovecot.append(mailbox, message())
    poll(app)
    victim = tickets(app)[0]["id"]
    dovecot.append(mailbox, message(sender="mallory@evil.example", subject=f"[#{victim}] add me"))
    assert poll(app) == {"ticket": 1}
    assert len(tickets(app)) == 2 and len(tickets(app)[0]["messages"]) == 1


def test_dovecot_restarted_mid_poll_loses_and_duplicates_nothing(imap_app, dovecot: Dovecot, mailbox: str,
                                                                  monkeypatch):
    monkeypatch.setattr("core.inbound.batch.BATCH_SIZE", 3)  # one transaction and one ack per 3 messages
    app = imap_app(fetch_chunk=4)
    dovecot.append(mailbox, *(message(sender=f"user{n}@example.com", subject=f"n{n}") for n in range(20)))
    source = sources(app.extensions["plugdesk"])[0]
    real_ack, acks = source.ack_many, []

    def ack_then_crash(uids: list[str]) -> None:
        acks.append(uids)
        if len(acks) == 3:
            dovecot.restart()  # the third batch (messages 7-9) is committed but not acknowledged
        real_ack(uids)

    source.ack_many = ack_then_crash
    assert poll(app) == {"unavailable": 1}
    assert len(tickets(app)) == 9
    counts = poll(app)
    assert counts == {"duplicate": 3, "ticket": 11}
    assert sorted(t["subject"] for t in tickets(app)) == sorted(f"n{n}" for n in range(20))
    assert dovecot.count(mailbox, "UNSEEN") == 0


def test_five_hundred_messages_in_one_mailbox(imap_app, dovecot: Dovecot, mailbox: str):
    app = imap_app()
    dovecot.append(mailbox, *(message(sender=f"c{n}@example.com", subject=f"m{n}") for n in range(500)))
    total: dict[str, int] = {}
    for _ in range(6):  # [inbound] batch_size = 100 per poll
        for key, n in poll(app).items():
            total[key] = total.get(key, 0) + n
    assert total == {"ticket": 500}
    assert len(tickets(app)) == 500 and dovecot.count(mailbox, "UNSEEN") == 0


def test_an_autoresponder_pair_does_not_loop(imap_app, dovecot: Dovecot, mailbox: str):
    app = imap_app()
    agent = create_user(app, "agent")
    dovecot.append(mailbox, message(sender="away@example.com"))
    poll(app)
    notified = agent_reply(app, tickets(app)[0]["id"], agent)
    assert deliver_mail(app).sent == 1
    for _ in range(3):  # the customer's autoresponder answers our notification, again and again
        dovecot.append(mailbox, message(sender="away@example.com", subject="Auto: out of office",
                                        in_reply_to=notified, headers={"Auto-Submitted": "auto-replied",
                                                                       "X-Autoreply": "yes"}))
    assert poll(app) == {"filed": 3}
    assert deliver_mail(app).sent == 0 and len(tickets(app)[0]["messages"]) == 2
    assert all("Auto-Submitted" in reason for outcome, reason in outcomes(app)[1:])


def test_diagnose_and_warnings(imap_app, dovecot: Dovecot, mailbox: str, plugdesk_app_factory):
    app = imap_app()
    st = app.extensions["plugdesk"]
    steps = st.host.call_plugin("mail_imap", "plugin_diagnose", ctx=st.ctx, provider=None, username=None)
    assert [s.ok for s in steps] == [True, True, True] and "logged in" in steps[1].detail
    assert dovecot.users[mailbox] not in " ".join(s.detail for s in steps)
    bad = imap_app(password="wrong", tls_verify=False, security="none", port=dovecot.port)
    st = bad.extensions["plugdesk"]
    steps = st.host.call_plugin("mail_imap", "plugin_diagnose", ctx=st.ctx, provider=None, username=None)
    assert not steps[-1].ok and "Authentication failed" in steps[-1].detail
    warnings = st.host.call_plugin("mail_imap", "plugin_warnings", ctx=st.ctx)
    assert any("unencrypted" in w for w in warnings) and any("validation is off" in w for w in warnings)


def test_an_untrusted_certificate_is_refused(imap_app, dovecot: Dovecot, mailbox: str, tmp_path):
    other_ca = tmp_path / "other.pem"
    from tests.realservers import make_certs

    other_ca.write_text(open(make_certs(tmp_path / "other")["ca"]).read())
    app = imap_app(ca_file=str(other_ca))
    dovecot.append(mailbox, message())
    assert poll(app) == {"unavailable": 1}
    st = app.extensions["plugdesk"]
    from core.inbound.poll import status

    assert "certificate" in status(st, mailbox).last_error and not tickets(app)
