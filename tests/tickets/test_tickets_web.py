"""Portal and management pages: submit, follow, reply, close; queues, notes, changes, delete; guests; captcha."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.tickets.models import Ticket, TicketEvent
from tests.tickets.conftest import PLUGINS, Desk, csrf


def _submit(client, dept, subject="Cannot log in", body="It says no.", **extra):
    page = client.get("/tickets/new").get_data(as_text=True)
    return client.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept),
                                              "subject": subject, "body": body, **extra})


def test_customer_submits_follows_replies_and_closes(desk):
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    hidden = desk.department("Internal", [agent], public=False)
    client = desk.client(cust)
    form = client.get("/tickets/new").get_data(as_text=True)
    assert "Support" in form and "Internal" not in form
    r = _submit(client, dept)
    assert r.status_code == 302
    ticket_url = r.headers["Location"]
    assert "Cannot log in" in client.get("/tickets").get_data(as_text=True)
    # agent answers and writes an internal note
    agent_client = desk.client(agent)
    tid = int(ticket_url.rsplit("/", 1)[1])
    page = agent_client.get(f"/manage/tickets/{tid}").get_data(as_text=True)
    agent_client.post(f"/manage/tickets/{tid}/reply", data={"csrf_token": csrf(page), "body": "Reset your password."})
    agent_client.post(f"/manage/tickets/{tid}/reply", data={"csrf_token": csrf(page), "body": "TOPSECRET note",
                                                            "internal": "on"})
    view = client.get(ticket_url).get_data(as_text=True)
    assert "Reset your password." in view and "TOPSECRET" not in view and "Answered" in view
    assert 'id="reply-form"' in view
    r = client.post(f"{ticket_url}/reply", data={"csrf_token": csrf(view), "body": "Thanks, works"})
    assert r.status_code == 302
    r = client.post(f"{ticket_url}/close", data={"csrf_token": csrf(view)})
    with desk.state.db.session() as s:
        t = s.get(Ticket, tid)
        assert t.status == "closed" and t.closed_at is not None
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == tid))]
    assert kinds == ["created", "replied", "note", "replied", "status"]
    # posting to the agents-only department by hand is refused
    r = _submit(client, hidden)
    assert r.status_code == 400 and "only takes tickets from its agents" in r.get_data(as_text=True)
    # another customer gets 404 for this ticket
    assert desk.client(desk.user()).get(ticket_url).status_code == 404


def test_locked_ticket_has_no_reply_form(desk):
    cust = desk.user()
    dept = desk.department("Support")
    client = desk.client(cust)
    tid = int(_submit(client, dept).headers["Location"].rsplit("/", 1)[1])
    with desk.state.db.session() as s:
        t = s.get(Ticket, tid)
        t.status, t.locked = "closed", True
    view = client.get(f"/tickets/{tid}").get_data(as_text=True)
    assert 'id="reply-form"' not in view and "locked and no longer accepts replies" in view
    r = client.post(f"/tickets/{tid}/reply", data={"csrf_token": csrf(view), "body": "hello"}, follow_redirects=True)
    assert "no longer accepts replies" in r.get_data(as_text=True)


def test_agent_queues_filter_change_and_manager_delete(desk):
    cust, agent, manager = desk.user(), desk.user("agent"), desk.user("manager")
    sales, billing = desk.department("Sales", [agent]), desk.department("Billing")
    client = desk.client(cust)
    ids = [int(_submit(client, d, subject=s).headers["Location"].rsplit("/", 1)[1])
           for d, s in ((sales, "Quote please"), (billing, "Invoice wrong"), (sales, "Discount?"))]
    agent_client = desk.client(agent)
    page = agent_client.get("/manage/tickets").get_data(as_text=True)
    assert "Quote please" in page and "Discount?" in page and "Invoice wrong" not in page
    assert "Open (2)" in page
    assert agent_client.get(f"/manage/tickets/{ids[1]}").status_code == 404
    page = agent_client.get("/manage/tickets?q=quote&sort=subject").get_data(as_text=True)
    assert "Quote please" in page and "Discount?" not in page
    view = agent_client.get(f"/manage/tickets/{ids[0]}").get_data(as_text=True)
    assert "Delete ticket" not in view
    agent_client.post(f"/manage/tickets/{ids[0]}/update", data={
        "csrf_token": csrf(view), "status": "waiting", "department_id": str(sales), "assignee_id": str(agent.id)})
    page = agent_client.get("/manage/tickets?status=waiting&mine=1").get_data(as_text=True)
    assert "Quote please" in page and "Discount?" not in page
    assert agent_client.post(f"/manage/tickets/{ids[0]}/delete", data={"csrf_token": csrf(view)}).status_code == 403
    mclient = desk.client(manager)
    view = mclient.get(f"/manage/tickets/{ids[0]}").get_data(as_text=True)
    assert "Delete ticket" in view
    r = mclient.post(f"/manage/tickets/{ids[0]}/delete", data={"csrf_token": csrf(view)})
    assert r.status_code == 302
    assert mclient.get(f"/manage/tickets/{ids[0]}").status_code == 404


def test_guests_only_when_allowed(desk):
    dept = desk.department("Support")
    anon = desk.app.test_client()
    assert anon.get("/tickets/new").status_code == 302  # to the login page
    desk.state.runtime.patch({"tickets.allow_guests": True}, actor="test")
    page = anon.get("/tickets/new").get_data(as_text=True)
    assert 'name="email"' in page
    r = anon.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept), "subject": "Hi",
                                        "body": "Guest here", "email": "not-an-email"})
    assert r.status_code == 400 and "valid email" in r.get_data(as_text=True)
    r = anon.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept), "subject": "Hi",
                                        "body": "Guest here", "email": "guest@example.org"})
    assert r.status_code == 200 and "received" in r.get_data(as_text=True)
    with desk.state.db.session() as s:
        t = s.scalars(select(Ticket)).one()
        assert t.customer_id is None and t.guest_email == "guest@example.org"


def test_captcha_applies_to_ticket_form(plugdesk_app_factory):
    desk = Desk(plugdesk_app_factory([*PLUGINS, "captcha_builtin"]))
    desk.state.runtime.patch({"security.captcha.enabled": True, "security.captcha.provider": "builtin"}, actor="t")
    dept = desk.department("Support")
    from core.testing import create_user

    client = desk.client(create_user(desk.app, verified=False))  # the captcha is for unverified addresses
    page = client.get("/tickets/new").get_data(as_text=True)
    assert re.search(r'name="captcha', page)
    r = client.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept), "subject": "",
                                          "body": "b"})
    assert r.status_code == 400
    text = r.get_data(as_text=True)
    assert 'id="subject-err"' in text and "Enter a subject." in text  # reported with the captcha, not after it
    assert 'id="captcha-err"' in text
    with desk.state.db.session() as s:
        assert s.scalars(select(Ticket)).first() is None
    # a verified customer who is logged in is never asked (Settings > Security: "users whose email is not verified")
    verified = desk.client(desk.user())
    page = verified.get("/tickets/new").get_data(as_text=True)
    assert not re.search(r'name="captcha', page)
    r = verified.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept), "subject": "s",
                                            "body": "b"})
    assert r.status_code == 302


def test_departments_page_shows_last_retention_run(desk):
    from datetime import timedelta

    from core.models import utcnow
    from core.retention import run_retention

    manager = desk.user("manager")
    desk.department("Support", auto_close_days=3)
    page = desk.client(manager).get("/manage/departments").get_data(as_text=True)
    assert "Retention has not run yet" in page
    run_retention(desk.state, utcnow() + timedelta(days=1))
    page = desk.client(manager).get("/manage/departments").get_data(as_text=True)
    assert "Last run:" in page and "done" in page and "<td>Support</td>" in page
