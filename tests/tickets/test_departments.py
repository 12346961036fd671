"""Departments: retention day counts are validated everywhere (API and the Tickets tab), audited, authorized."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import AuditEntry
from tests.tickets.conftest import csrf

BAD_DAYS = [(-1, "at least 1"), (0, "at least 1"), (1.5, "whole number"), ("ten", "whole number"),
            (True, "whole number"), (36_501, "at most 36,500"), ([7], "whole number")]


@pytest.mark.parametrize("field", ["auto_close_days", "lock_after_days", "delete_after_days"])
@pytest.mark.parametrize("value,reason", BAD_DAYS)
def test_api_refuses_bad_day_counts(desk, field, value, reason):
    manager = desk.user("manager")
    api = desk.api(manager)
    r = api("POST", "/api/v1/departments", json={"name": "Support", field: value})
    assert r.status_code == 422 and reason in r.get_json()["errors"][field]
    dept = api("POST", "/api/v1/departments", json={"name": "Ok"}).get_json()
    r = api("PATCH", f"/api/v1/departments/{dept['id']}", json={field: value, "name": "Changed"})
    assert r.status_code == 422 and reason in r.get_json()["errors"][field]
    assert api("GET", "/api/v1/departments").get_json()["items"][0]["name"] == "Ok"  # nothing changed


def test_api_accepts_limits_null_and_lock_without_close(desk):
    manager = desk.user("manager")
    api = desk.api(manager)
    r = api("POST", "/api/v1/departments", json={"name": "Support", "auto_close_days": 1, "delete_after_days": 36_500})
    assert r.status_code == 201
    d = r.get_json()
    assert (d["auto_close_days"], d["lock_after_days"], d["delete_after_days"]) == (1, None, 36_500)
    r = api("PATCH", f"/api/v1/departments/{d['id']}", json={"auto_close_days": None, "lock_after_days": 30})
    assert r.status_code == 200 and r.get_json()["auto_close_days"] is None and r.get_json()["lock_after_days"] == 30
    with desk.state.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "department.update")).one()
        assert entry.old["auto_close_days"] == 1 and entry.new["lock_after_days"] == 30
    assert api("PATCH", "/api/v1/departments/999", json={"name": "x"}).status_code == 404


def test_only_managers_manage_departments(desk):
    for role in ("user", "agent"):
        who = desk.user(role)
        assert desk.api(who)("POST", "/api/v1/departments", json={"name": "X"}).status_code == 403
    dept = desk.department("Support")
    assert desk.api(desk.user("agent"))("PATCH", f"/api/v1/departments/{dept}", json={"name": "Y"}).status_code == 403
    assert desk.client(desk.user("agent")).get("/manage/departments").status_code == 403


def test_agents_must_be_staff(desk):
    manager, cust = desk.user("manager"), desk.user()
    r = desk.api(manager)("POST", "/api/v1/departments", json={"name": "S", "agent_ids": [cust.id]})
    assert r.status_code == 422 and "agent_ids" in r.get_json()["errors"]


def test_tickets_tab_switches_with_help_text(desk):
    manager = desk.user("manager")
    dept = desk.department("Support")
    client = desk.client(manager)
    page = client.get(f"/manage/departments/{dept}/tickets").get_data(as_text=True)
    assert "Close tickets automatically" in page and "also tickets closed by hand" in page
    assert "Cannot be undone" in page
    token = csrf(page)
    # switched on with a bad count: refused with the reason, nothing saved
    for bad, reason in (("-3", "at least 1"), ("0", "at least 1"), ("2.5", "whole number"), ("36501", "at most"),
                        ("", "Enter the number of days")):
        r = client.post(f"/manage/departments/{dept}/tickets", data={"csrf_token": token, "auto_close_days_on": "on",
                                                                     "auto_close_days": bad})
        assert r.status_code == 400 and reason in r.get_data(as_text=True), bad
    r = client.post(f"/manage/departments/{dept}/tickets", data={
        "csrf_token": token, "auto_close_days_on": "on", "auto_close_days": "14",
        "lock_after_days": "99", "delete_after_days_on": "on", "delete_after_days": "60"})
    assert r.status_code == 302
    d = desk.api(manager)("GET", "/api/v1/departments").get_json()["items"][0]
    assert (d["auto_close_days"], d["lock_after_days"], d["delete_after_days"]) == (14, None, 60)  # lock: switch off


def test_general_tab_assigns_agents_and_visibility(desk):
    manager, agent = desk.user("manager"), desk.user("agent")
    client = desk.client(manager)
    page = client.get("/manage/departments").get_data(as_text=True)
    r = client.post("/manage/departments", data={"csrf_token": csrf(page), "name": "Billing", "public": "on"})
    assert r.status_code == 302
    url = r.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    r = client.post(url, data={"csrf_token": csrf(page), "name": "Billing", "description": "Invoices",
                               "agent_ids": [str(agent.id)]})
    assert r.status_code == 302
    d = desk.api(manager)("GET", "/api/v1/departments").get_json()["items"]
    assert d == [] or d[0]["public"] is False  # unticked = agents only: customers' list is for submitting
    listed = desk.api(agent)("GET", "/api/v1/departments").get_json()["items"]
    assert listed[0]["name"] == "Billing" and listed[0]["agent_ids"] == [agent.id]
