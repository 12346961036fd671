"""Issue 19, finding 6: hostile input is a 4xx problem, never a 500 (each of these was a 500 before).

Integers beyond the database's range in JSON bodies and query strings, ``"²"`` in the agent search,
lone surrogates and deep nesting in JSON, a negative ``limit`` that removed the row cap, huge ``page``
numbers on HTML lists, out-of-range ids in management forms.
"""

from __future__ import annotations

import pytest

from tests.tickets.conftest import csrf

HUGE = [2**63, 2**64, 10**30]


def _is_problem(r, *statuses: int) -> bool:
    return r.status_code in statuses and r.mimetype == "application/problem+json" \
        and {"type", "title", "status", "detail"} <= set(r.get_json())


@pytest.mark.parametrize("huge", HUGE)
def test_huge_integers_in_json_bodies_are_refused(desk, huge):
    agent = desk.user("agent")
    dept = desk.department("Support", [agent])
    customer = desk.api(desk.user())
    ticket = customer("POST", "/api/v1/tickets", json={"subject": "s", "department_id": dept, "body": "b"})
    assert ticket.status_code == 201
    staff = desk.api(agent)
    manager = desk.api(desk.user("manager"))
    calls = [
        (customer, "POST", "/api/v1/tickets", {"subject": "s", "department_id": huge, "body": "b"}),
        (staff, "PATCH", f"/api/v1/tickets/{ticket.get_json()['id']}", {"assignee_id": huge}),
        (staff, "PATCH", f"/api/v1/tickets/{ticket.get_json()['id']}", {"department_id": huge}),
        (staff, "POST", "/api/v1/kb/articles", {"title": "t", "category_id": huge}),
        (staff, "POST", "/api/v1/kb/categories", {"name": "c", "parent_id": huge}),
        (customer, "POST", "/api/v1/community/threads", {"title": "t", "body_html": "b", "category_id": huge}),
        (manager, "POST", "/api/v1/departments", {"name": "D", "agent_ids": [huge]}),
    ]
    for api, method, path, body in calls:
        r = api(method, path, json=body)
        assert _is_problem(r, 422), (method, path, r.status_code, r.get_data(as_text=True))


@pytest.mark.parametrize("query", [f"department_id={2**63}", f"offset={2**64}", f"limit={10**30}",
                                   "limit=-1", "offset=-5", "limit=0", "status=bogus", "department_id=1e3"])
def test_bad_paging_and_filters_in_query_strings_are_400(desk, query):
    user = desk.user()
    api = desk.api(user)
    dept = desk.department("Support")
    for i in range(3):
        api("POST", "/api/v1/tickets", json={"subject": f"s{i}", "department_id": dept, "body": "b"})
    for path in ("/api/v1/tickets", "/api/v1/kb/articles", "/api/v1/community/threads"):
        if "status" in query or "department_id" in query:
            if path != "/api/v1/tickets":
                continue
        r = api("GET", f"{path}?{query}")
        assert _is_problem(r, 400), (path, query, r.status_code, r.get_data(as_text=True))
        assert r.get_json()["errors"], r.get_json()


def test_negative_limit_no_longer_returns_every_row(desk):
    api = desk.api(desk.user())
    dept = desk.department("Support")
    for i in range(3):
        api("POST", "/api/v1/tickets", json={"subject": f"s{i}", "department_id": dept, "body": "b"})
    assert len(api("GET", "/api/v1/tickets?limit=2").get_json()["items"]) == 2
    assert api("GET", "/api/v1/tickets?limit=-1").status_code == 400
    page = api("GET", "/api/v1/tickets?limit=2&offset=2").get_json()
    assert len(page["items"]) == 1 and page["total"] == 3


@pytest.mark.parametrize("q", ["²", "٣", "9" * 30, "#42", "１２"])
def test_agent_ticket_search_with_odd_digits(desk, q):
    agent = desk.user("agent")
    desk.department("Support", [agent])
    r = desk.client(agent).get("/manage/tickets", query_string={"q": q, "department": str(2**70)})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]


@pytest.mark.parametrize("path", ["/kb/search?q=help&page={n}", "/community/?page={n}", "/manage/tickets?page={n}"])
def test_huge_page_numbers_on_html_lists_show_the_first_page(desk, path):
    agent = desk.user("agent")
    for n in (2**63, 10**30, -1, "x"):
        r = desk.client(agent).get(path.format(n=n))
        assert r.status_code == 200, (path, n, r.status_code)


@pytest.mark.parametrize("raw", [
    '{"username": "\\ud800", "password": "x"}',  # lone surrogate (json.loads accepts it; SQLite does not)
    '{"username": "a\\udc00b", "password": "\\ud83d"}',
    "[" * 100_000,  # RecursionError in json.loads
    '{"a":' * 100_000,
    '{"username": "x\u0001", "password": "y"}',  # raw control character inside a string
])
def test_hostile_json_to_the_unauthenticated_login_is_400(desk, raw):
    r = desk.app.test_client().post("/api/v1/auth/login", data=raw, content_type="application/json")
    assert _is_problem(r, 400), (r.status_code, r.get_data(as_text=True)[:300])


def test_lone_surrogates_never_reach_the_database(desk):
    api = desk.api(desk.user())
    dept = desk.department("Support")
    for path, raw in (("/api/v1/tickets", '{"subject": "\\udfff", "department_id": ' + str(dept) + ', "body": "b"}'),
                      ("/api/v1/community/threads", '{"title": "t\\ud800", "body_html": "b"}'),
                      (f"/api/v1/kb/articles/{2**20}/feedback", '{"helpful": true, "comment": "\\ud800"}')):
        r = api("POST", path, data=raw, content_type="application/json")
        assert _is_problem(r, 400), (path, r.status_code, r.get_data(as_text=True)[:300])


def test_out_of_range_ids_in_management_forms(desk):
    admin = desk.user("admin")
    client = desk.client(admin)
    token = csrf(client.get("/manage/users").get_data(as_text=True))
    r = client.post("/manage/users", data={"csrf_token": token, "user_id": str(2**64), "action": "disable"})
    assert r.status_code == 404
    agent = desk.user("agent")
    dept = desk.department("Support", [agent])
    ticket = desk.api(desk.user())("POST", "/api/v1/tickets", json={"subject": "s", "department_id": dept,
                                                                    "body": "b"}).get_json()["id"]
    client = desk.client(agent)
    token = csrf(client.get(f"/manage/tickets/{ticket}").get_data(as_text=True))
    r = client.post(f"/manage/tickets/{ticket}/update", data={"csrf_token": token, "department_id": str(2**64),
                                                              "assignee_id": "²"})
    assert r.status_code in (302, 303), r.status_code


def test_odd_ids_in_the_mail_page_actions_are_400(desk):
    manager = desk.client(desk.user("manager"))
    token = csrf(manager.get("/manage/mail").get_data(as_text=True))
    for raw_id in ("²", "٣", str(2**64), "-1", ""):
        for action in ("retry", "discard"):
            r = manager.post("/manage/mail", data={"csrf_token": token, "action": action, "id": raw_id})
            assert r.status_code == 400, (action, raw_id, r.status_code)


def test_the_rss_limit_is_clamped_never_an_error(desk):
    agent = desk.api(desk.user("agent"))
    for i in range(3):
        agent("POST", "/api/v1/kb/articles", json={"title": f"A{i}", "body_html": "<p>b</p>", "published": True})
    feed = desk.app.test_client()
    for limit, items in (("-5", 1), ("0", 1), ("²", 3), ("9" * 5000, 3), ("2", 2), ("x", 3)):
        r = feed.get("/rss/kb/newest", query_string={"limit": limit})
        assert r.status_code == 200, limit[:10]
        assert r.get_data(as_text=True).count("<item>") == items, limit[:10]
