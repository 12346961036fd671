"""Ticket API: shapes, statuses, authorization on every route, locked/deleted replies, attachments."""

from __future__ import annotations

import io

from core.tickets.models import Ticket


def _open(desk, who, dept, subject="Printer on fire", body="It is really burning."):
    r = desk.api(who)("POST", "/api/v1/tickets", json={"subject": subject, "department_id": dept, "body": body})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_create_reply_and_statuses(desk):
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = _open(desk, cust, dept)
    assert t["status"] == "open" and t["locked"] is False and t["department_id"] == dept
    assert t["created_at"].endswith("Z") and t["messages"][0]["body"] == "It is really burning."
    r = desk.api(agent)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "Use the extinguisher."})
    assert r.status_code == 201 and r.get_json()["status"] == "waiting"
    assert r.get_json()["last_agent_reply_at"] is not None
    r = desk.api(cust)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "Done."})
    assert r.get_json()["status"] == "open"


def test_internal_notes_hidden_from_customer(desk):
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = _open(desk, cust, dept)
    r = desk.api(agent)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "VIP, be nice", "internal": True})
    assert r.status_code == 201 and r.get_json()["status"] == "open"  # a note changes no status
    seen = desk.api(cust)("GET", f"/api/v1/tickets/{t['id']}").get_json()
    assert [m["body"] for m in seen["messages"]] == ["It is really burning."]
    r = desk.api(cust)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "x", "internal": True})
    assert r.status_code == 403


def test_customer_sees_only_own_tickets(desk):
    alice, bob, agent = desk.user(), desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = _open(desk, alice, dept)
    for method, path, body in (("GET", f"/api/v1/tickets/{t['id']}", None),
                               ("POST", f"/api/v1/tickets/{t['id']}/messages", {"body": "mine now"}),
                               ("PATCH", f"/api/v1/tickets/{t['id']}", {"status": "closed"})):
        r = desk.api(bob)(method, path, json=body)
        assert r.status_code == 404, (method, path)
        assert r.mimetype == "application/problem+json"
    assert desk.api(bob)("GET", "/api/v1/tickets").get_json()["total"] == 0
    assert desk.api(alice)("GET", "/api/v1/tickets").get_json()["total"] == 1
    assert desk.api(bob)("GET", f"/api/v1/tickets/{t['id'] + 1000}").status_code == 404  # same answer


def test_agent_sees_only_own_departments(desk):
    cust, a1, a2 = desk.user(), desk.user("agent"), desk.user("agent")
    d1, d2 = desk.department("Sales", [a1]), desk.department("Billing", [a2])
    t = _open(desk, cust, d1)
    assert desk.api(a2)("GET", f"/api/v1/tickets/{t['id']}").status_code == 404
    assert desk.api(a2)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "hi"}).status_code == 404
    assert desk.api(a1)("GET", f"/api/v1/tickets/{t['id']}").status_code == 200
    # an agent can move a ticket only to one of their departments
    r = desk.api(a1)("PATCH", f"/api/v1/tickets/{t['id']}", json={"department_id": d2})
    assert r.status_code == 422 and "department_id" in r.get_json()["errors"]
    assert desk.api(a2)("GET", "/api/v1/tickets").get_json()["total"] == 0


def test_customer_cannot_post_to_agents_only_department(desk):
    cust, agent = desk.user(), desk.user("agent")
    hidden = desk.department("Internal", [agent], public=False)
    r = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "s", "department_id": hidden, "body": "b"})
    assert r.status_code == 403 and "agents" in r.get_json()["detail"]
    assert desk.api(agent)("POST", "/api/v1/tickets",
                           json={"subject": "s", "department_id": hidden, "body": "b"}).status_code == 201
    listed = desk.api(cust)("GET", "/api/v1/departments").get_json()["items"]
    assert hidden not in [d["id"] for d in listed]
    r = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "s", "department_id": 999, "body": "b"})
    assert r.status_code == 422


def test_bad_ticket_input(desk):
    cust = desk.user()
    dept = desk.department("Support")
    api = desk.api(cust)
    r = api("POST", "/api/v1/tickets", json={"subject": " ", "department_id": dept, "body": "b"})
    assert r.status_code == 422 and "subject" in r.get_json()["errors"]
    r = api("POST", "/api/v1/tickets", json={"subject": "s", "department_id": "1", "body": "b"})
    assert r.status_code == 422 and "department_id" in r.get_json()["errors"]
    r = api("POST", "/api/v1/tickets", json={"subject": "x" * 201, "department_id": dept, "body": "b"})
    assert r.status_code == 422
    assert desk.app.test_client().post("/api/v1/tickets", json={}).status_code == 401


def test_customer_closes_own_ticket_but_cannot_reassign(desk):
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = _open(desk, cust, dept)
    r = desk.api(cust)("PATCH", f"/api/v1/tickets/{t['id']}", json={"assignee_id": agent.id})
    assert r.status_code == 403
    r = desk.api(cust)("PATCH", f"/api/v1/tickets/{t['id']}", json={"status": "closed"})
    assert r.status_code == 200 and r.get_json()["status"] == "closed" and r.get_json()["closed_at"]
    r = desk.api(agent)("PATCH", f"/api/v1/tickets/{t['id']}", json={"assignee_id": agent.id, "status": "open"})
    assert r.get_json()["assignee_id"] == agent.id and r.get_json()["closed_at"] is None


def test_reply_to_locked_ticket_is_403_with_reason(desk):
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    t = _open(desk, cust, dept)
    with desk.state.db.session() as s:
        row = s.get(Ticket, t["id"])
        row.status, row.locked = "closed", True
    r = desk.api(cust)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "hello?"})
    assert r.status_code == 403
    assert "locked" in r.get_json()["detail"] and "no longer accepts replies" in r.get_json()["detail"]
    assert desk.api(cust)("PATCH", f"/api/v1/tickets/{t['id']}", json={"status": "open"}).status_code == 403
    # agents may still add internal notes
    r = desk.api(agent)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "n", "internal": True})
    assert r.status_code == 201


def test_delete_needs_manager_and_reply_to_deleted_is_404(desk):
    cust, agent, manager = desk.user(), desk.user("agent"), desk.user("manager")
    dept = desk.department("Support", [agent])
    t = _open(desk, cust, dept)
    assert desk.api(cust)("DELETE", f"/api/v1/tickets/{t['id']}").status_code == 403
    assert desk.api(agent)("DELETE", f"/api/v1/tickets/{t['id']}").status_code == 403
    assert desk.api(manager)("DELETE", f"/api/v1/tickets/{t['id']}").status_code == 204
    r = desk.api(cust)("POST", f"/api/v1/tickets/{t['id']}/messages", json={"body": "still there?"})
    assert r.status_code == 404
    assert desk.api(manager)("DELETE", f"/api/v1/tickets/{t['id']}").status_code == 404
    from sqlalchemy import select

    from core.models import AuditEntry
    with desk.state.db.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "ticket.delete")).target == f"ticket:{t['id']}"


def test_multipart_with_files_and_attachment_authorization(desk):
    cust, other, agent, manager = desk.user(), desk.user(), desk.user("agent"), desk.user("manager")
    dept = desk.department("Support", [agent])
    r = desk.api(cust)("POST", "/api/v1/tickets", data={
        "subject": "Logs", "department_id": str(dept), "body": "see attached",
        "files": [(io.BytesIO(b"line 1\nline 2\n"), "log.txt")]}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    t = r.get_json()
    att = t["messages"][0]["attachments"][0]
    assert att["filename"] == "log.txt" and att["size"] == 14 and len(att["sha256"]) == 64
    assert desk.api(cust)("GET", f"/api/v1/attachments/{att['id']}").data == b"line 1\nline 2\n"
    assert desk.api(agent)("GET", f"/api/v1/attachments/{att['id']}").status_code == 200
    assert desk.api(other)("GET", f"/api/v1/attachments/{att['id']}").status_code == 404
    assert desk.app.test_client().get(f"/attachments/{att['id']}").status_code == 404  # anonymous
    # an internal note's attachment is for staff only
    r = desk.api(agent)("POST", f"/api/v1/tickets/{t['id']}/messages", data={
        "body": "their config", "internal": "true", "files": [(io.BytesIO(b"secret=1\n"), "notes.txt")]},
        content_type="multipart/form-data")
    note = r.get_json()["messages"][-1]["attachments"][0]
    assert desk.api(cust)("GET", f"/api/v1/attachments/{note['id']}").status_code == 404
    assert desk.api(agent)("GET", f"/api/v1/attachments/{note['id']}").status_code == 200
    # deleting the ticket drops the references
    assert desk.api(manager)("DELETE", f"/api/v1/tickets/{t['id']}").status_code == 204
    assert desk.api(manager)("GET", f"/api/v1/attachments/{att['id']}").status_code == 404
    from sqlalchemy import func, select

    from core.files.models import Attachment, Blob
    with desk.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert set(s.scalars(select(Blob.refcount))) == {0}


def test_refused_upload_keeps_nothing(desk):
    cust = desk.user()
    dept = desk.department("Support")
    r = desk.api(cust)("POST", "/api/v1/tickets", data={
        "subject": "Exe", "department_id": str(dept), "body": "run this",
        "files": [(io.BytesIO(b"MZ\x90\x00binary"), "tool.exe")]}, content_type="multipart/form-data")
    assert r.status_code in (415, 422) and r.mimetype == "application/problem+json"
    assert desk.api(cust)("GET", "/api/v1/tickets").get_json()["total"] == 0


def test_openapi_documents_ticket_routes(desk):
    doc = desk.app.test_client().get("/api/v1/openapi.json").get_json()
    for path, method in (("/api/v1/tickets", "post"), ("/api/v1/tickets/{ticket_id}", "get"),
                         ("/api/v1/tickets/{ticket_id}/messages", "post"), ("/api/v1/tickets/{ticket_id}", "delete"),
                         ("/api/v1/departments", "post"), ("/api/v1/departments/{department_id}", "patch")):
        assert method in doc["paths"][path], (path, method)
    assert "multipart/form-data" in doc["paths"]["/api/v1/tickets"]["post"]["requestBody"]["content"]
