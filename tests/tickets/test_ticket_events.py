"""Lifecycle hooks (ticket_created / ticket_replied / ticket_closed / ticket_locked / ticket_deleted) and the
notify_email plugin, which mails the customer through a real SMTP server on an agent's reply."""

from __future__ import annotations

from datetime import timedelta

from core import hookimpl
from core.models import utcnow
from core.retention import run_retention
from core.testing import deliver_mail
from tests.tickets.conftest import PLUGINS, Desk


class Listener:
    """A plugin that records every ticket event it receives."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict]] = {}

    def _add(self, name: str, **kw) -> None:
        self.events.setdefault(name, []).append(kw)

    def calls(self, name: str) -> list[dict]:
        return self.events.get(name, [])

    @hookimpl
    def ticket_created(self, ticket, message):
        self._add("ticket_created", ticket=ticket, message=message)

    @hookimpl
    def ticket_replied(self, ticket, message):
        self._add("ticket_replied", ticket=ticket, message=message)

    @hookimpl
    def ticket_closed(self, ticket, actor):
        self._add("ticket_closed", ticket=ticket, actor=actor)

    @hookimpl
    def ticket_locked(self, ticket, actor):
        self._add("ticket_locked", ticket=ticket, actor=actor)

    @hookimpl
    def ticket_deleted(self, ticket, actor):
        self._add("ticket_deleted", ticket=ticket, actor=actor)


def test_hooks_fire_with_snapshots(plugdesk_app_factory):
    rec = Listener()
    desk = Desk(plugdesk_app_factory(PLUGINS, extra={"listener": rec}))
    cust, agent, manager = desk.user(), desk.user("agent"), desk.user("manager")
    dept = desk.department("Support", [agent], auto_close_days=2, lock_after_days=1)
    t = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "S", "department_id": dept, "body": "B"}).get_json()
    created = rec.calls("ticket_created")
    assert created[0]["ticket"].id == t["id"] and created[0]["message"].body == "B"
    assert created[0]["ticket"].customer_email == f"{cust.username}@example.com"
    desk.api(agent)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "A"})
    replied = rec.calls("ticket_replied")[-1]
    assert replied["message"].from_agent and replied["ticket"].status == "waiting"
    run_retention(desk.state, utcnow() + timedelta(days=3))
    closed = rec.calls("ticket_closed")
    assert [(c["ticket"].id, c["actor"], c["ticket"].status) for c in closed] == [(t["id"], "retention", "closed")]
    run_retention(desk.state, utcnow() + timedelta(days=5))
    locked = rec.calls("ticket_locked")
    assert locked[0]["ticket"].locked and locked[0]["actor"] == "retention"
    desk.api(manager)("DELETE", f"/api/v1/tickets/{t['id']}")
    deleted = rec.calls("ticket_deleted")
    assert deleted[0]["ticket"].subject == "S" and deleted[0]["actor"] == manager.username
    # a customer closing by hand fires ticket_closed with their name
    t2 = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "T", "department_id": dept, "body": "B"})
    desk.api(cust)("PATCH", f"/api/v1/tickets/{t2.get_json()['id']}", json={"status": "closed"})
    assert rec.calls("ticket_closed")[-1]["actor"] == cust.username


def test_agent_reply_emails_customer_not_notes(plugdesk_app_factory, smtp_sink):
    app = plugdesk_app_factory(PLUGINS, overrides={"mail": {"url": f"smtp://{smtp_sink.host}:{smtp_sink.port}",
                                                            "sender": "help@example.com"}})
    desk = Desk(app)
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "Wifi", "department_id": dept, "body": "down"})
    tid = t.get_json()["id"]
    desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "internal only", "internal": True})
    desk.api(cust)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "still down"})
    assert smtp_sink.delivered(app) == []
    desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "Restart the router."})
    assert len(smtp_sink.delivered(app)) == 1
    msg = smtp_sink.messages[0]
    assert msg["to"] == [f"{cust.username}@example.com"]
    assert msg["msg"]["Subject"] == f"[#{tid}] Re: Wifi"
    text = msg["msg"].get_body(("plain",)).get_content()
    assert "Restart the router." in text and f"/tickets/{tid}" in text and "internal only" not in text


def test_mail_failure_never_breaks_the_reply(plugdesk_app_factory):
    from tests.realservers import free_port

    app = plugdesk_app_factory(PLUGINS, overrides={"mail": {"url": f"smtp://127.0.0.1:{free_port()}"}})
    desk = Desk(app)
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    tid = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "S", "department_id": dept,
                                                          "body": "B"}).get_json()["id"]
    r = desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "answer"})
    assert r.status_code == 201 and r.get_json()["status"] == "waiting"
    report = deliver_mail(app)  # the mail server is down: the notification waits in the outbox for a retry
    assert report.retrying == 1 and "unreachable" in report.errors[0]
