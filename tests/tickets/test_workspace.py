"""The agent workspace: conversation view, sidebar, history in words, canned responses, inline changes."""

from __future__ import annotations

import re

from core.workspace.canned import fill
from tests.tickets.conftest import csrf


def submit(desk, customer, dept, subject, body="It broke."):
    client = desk.client(customer)
    page = client.get("/tickets/new").get_data(as_text=True)
    r = client.post("/tickets/new", data={"csrf_token": csrf(page), "department_id": str(dept),
                                          "subject": subject, "body": body})
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_conversation_sidebar_and_history(desk):
    customer, agent, other_agent = desk.user(), desk.user("agent"), desk.user("agent")
    sales, billing, hidden = (desk.department("Sales", [agent, other_agent]), desk.department("Billing", [agent]),
                              desk.department("Secret"))
    first = submit(desk, customer, sales, "Quote please")
    earlier = submit(desk, customer, billing, "Invoice wrong")
    submit(desk, customer, hidden, "Not for this agent")
    client = desk.client(agent)
    page = client.get(f"/manage/tickets/{first}").get_data(as_text=True)
    client.post(f"/manage/tickets/{first}/reply", data={"csrf_token": csrf(page), "body": "Here it is."})
    client.post(f"/manage/tickets/{first}/reply", data={"csrf_token": csrf(page), "body": "VIP", "internal": "on"})
    client.post(f"/manage/tickets/{first}/update", data={"csrf_token": csrf(page), "status": "waiting",
                                                        "department_id": str(billing),
                                                        "assignee_id": str(other_agent.id)})
    page = client.get(f"/manage/tickets/{first}").get_data(as_text=True)
    assert re.search(r'class="bubble customer"[^>]*>\s*<p class="who"><strong>', page)
    assert 'class="bubble staff"' in page and 'class="bubble internal"' in page
    assert "Internal note — customers never see this" in page
    # the reply box first, then the conversation newest first: nothing to scroll past, nothing covered
    assert page.index('id="agent-reply"') < page.index('class="conversation"')
    bubbles = re.findall(r'<li class="bubble (\w+)"', page)
    assert bubbles == ["internal", "staff", "customer"], bubbles
    sidebar = page.split('aria-label="Ticket details"')[1]
    assert customer.email in sidebar and f"#{earlier} Invoice wrong" in sidebar
    assert "Not for this agent" not in sidebar  # other tickets only from the agent's departments
    assert 'id="next-ticket" data-shortcut="n"' in page and f"/manage/tickets/{earlier}" in page
    history = page.split('id="history-title"')[1]
    assert "Opened in Sales by" in history and f"Reply by {agent.username}" in history
    assert f"Internal note by {agent.username}" in history
    assert "Moved from Sales to Billing by" in history and f"Assigned to {other_agent.username}" in history
    assert "Status changed from" not in history  # the reply already made it "waiting"
    assert "{&#34;" not in history and '{"' not in history  # never raw JSON
    assert page.count('id="csrf_token"') == 0 and page.count('name="csrf_token"') >= 3
    assert 'data-confirm="Delete ticket' not in page  # agents cannot delete
    manager_page = desk.client(desk.user("manager")).get(f"/manage/tickets/{first}").get_data(as_text=True)
    assert f'data-confirm="Delete ticket #{first} with all messages' in manager_page


def test_inline_change_answers_json_and_keeps_no_flash(desk):
    customer, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    tid = submit(desk, customer, dept, "Slow")
    client = desk.client(agent)
    page = client.get(f"/manage/tickets/{tid}").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "status": "closed", "department_id": str(dept), "assignee_id": "0"}
    r = client.post(f"/manage/tickets/{tid}/update", data=form, headers={"X-Plugdesk-Inline": "1"})
    assert r.status_code == 200 and r.get_json() == {"ok": True, "message": "Saved."}
    assert "Saved." not in client.get(f"/manage/tickets/{tid}").get_data(as_text=True)  # flash taken out
    r = client.post(f"/manage/tickets/{tid}/update", data={**form, "status": "bogus"},
                    headers={"X-Plugdesk-Inline": "1"})
    assert r.status_code == 422 and not r.get_json()["ok"] and "Status must be one of" in r.get_json()["message"]
    r = client.post(f"/manage/tickets/{tid}/update", data={**form, "status": "open"})
    assert r.status_code == 302  # the plain form still works without JavaScript


def test_canned_responses_per_department_with_placeholders(desk):
    manager, agent, customer = desk.user("manager"), desk.user("agent"), desk.user()
    sales, billing = desk.department("Sales", [agent]), desk.department("Billing", [agent])
    mclient = desk.client(manager)
    assert desk.client(agent).get("/manage/canned/").status_code == 403
    page = mclient.get("/manage/canned/new").get_data(as_text=True)
    token = csrf(page)
    r = mclient.post("/manage/canned/new", data={"csrf_token": token, "title": "", "body": "", "department_id": "x"})
    text = r.get_data(as_text=True)
    assert r.status_code == 400 and "Give it a title" in text and "Write the response" in text
    assert "Choose one of the departments" in text
    for title, body, dept in (("Greeting", "Hello {customer_name}, about #{ticket_id} ({ticket_subject}): {x}", ""),
                              ("Refund", "Refunds take 5 days. — {agent_name}, {department}", str(billing))):
        r = mclient.post("/manage/canned/new", data={"csrf_token": token, "title": title, "body": body,
                                                     "department_id": dept})
        assert r.status_code == 302
    listing = mclient.get("/manage/canned/").get_data(as_text=True)
    assert "All departments" in listing and "Billing" in listing and "{customer_name}" in listing
    tid = submit(desk, customer, sales, "Order 7")
    view = desk.client(agent).get(f"/manage/tickets/{tid}").get_data(as_text=True)
    assert f"Hello {customer.display_name}, about #{tid} (Order 7): {{x}}" in view
    assert "Refund" not in view  # Billing's response is not offered in Sales
    delete = re.search(r'action="(/manage/canned/(\d+)/delete)"', listing)
    assert mclient.post(delete.group(1), data={"csrf_token": token}).status_code == 302
    assert mclient.post(delete.group(1), data={"csrf_token": token}).status_code == 404


def test_fill_replaces_known_placeholders_only():
    assert fill("{a} {customer_name} {__class__} {customer_name.x}", {"customer_name": "Ann"}) == \
        "{a} Ann {__class__} {customer_name.x}"
