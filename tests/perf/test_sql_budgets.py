"""SQL statements per page view stay within a budget (issue 22): no N+1, no repeated settings or session
queries. Each page is requested once to warm up, then counted (:mod:`tests.perf.sqlbudget`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from core.app_state import state
from core.kb.service import create_category
from core.testing import TEST_PASSWORD, create_user
from core.tickets.departments import save_department
from core.tickets.models import Ticket
from tests.kb.helpers import make_article
from tests.perf.sqlbudget import statements, within_budget

VOTER = "perf-test-voter-token-0123456789"


def _login(app: Flask, user: Any) -> Any:
    """A test client logged in through the login form (a real session record, as a browser has)."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    done = client.post("/login", data={"csrf_token": token, "username": user.username, "password": TEST_PASSWORD})
    assert done.status_code in (302, 303), done.status_code
    return client


@pytest.fixture
def desk(plugdesk_app: Flask) -> dict[str, Any]:
    """30 published articles (20 in one category), a customer with 50 tickets, an agent of a department
    with 120 tickets."""
    app = plugdesk_app
    st = state(app)
    with app.app_context():
        cat = create_category(st, "Accounts")
    articles = [make_article(app, title=f"Article {i}", body=f"<p>Body <b>{i}</b> text.</p>",
                             category_id=cat.id if i < 20 else None) for i in range(30)]
    customer, agent = create_user(app, "user"), create_user(app, "agent")
    with st.db.session() as s:
        dept = save_department(s, None, {"name": "Support", "agent_ids": [agent.id]}, actor="test").id
        s.add_all(Ticket(subject=f"Ticket {i}", department_id=dept, customer_id=customer.id if i < 50 else None,
                         status=("open", "waiting", "closed")[i % 3]) for i in range(120))
    return {"app": app, "category": cat.id, "article": articles[-1], "customer": customer, "agent": agent}


def test_article_page_anonymous_returning_reader(desk: dict[str, Any]) -> None:
    client = desk["app"].test_client()
    client.set_cookie("plugdesk_kbv", VOTER)  # bypasses the micro-cache: the whole stack runs
    a = desk["article"]
    within_budget(desk["app"], client, f"/kb/{a.id}/{a.slug}", budget=5)


def test_article_page_logged_in(desk: dict[str, Any]) -> None:
    a = desk["article"]
    within_budget(desk["app"], _login(desk["app"], desk["customer"]), f"/kb/{a.id}/{a.slug}", budget=5)


def test_kb_home_and_category(desk: dict[str, Any]) -> None:
    client = desk["app"].test_client()
    client.set_cookie("plugdesk_kbv", VOTER)
    within_budget(desk["app"], client, "/kb", budget=3)
    within_budget(desk["app"], client, f"/kb/category/{desk['category']}", budget=3)


def test_login_page_runs_no_sql(desk: dict[str, Any]) -> None:
    within_budget(desk["app"], desk["app"].test_client(), "/login", budget=0)


def test_my_tickets(desk: dict[str, Any]) -> None:
    response = within_budget(desk["app"], _login(desk["app"], desk["customer"]), "/tickets", budget=4)
    assert response.get_data(as_text=True).count("Ticket ") >= 50


def test_agent_queue(desk: dict[str, Any]) -> None:
    client = _login(desk["app"], desk["agent"])
    within_budget(desk["app"], client, "/manage/tickets?status=all&sort=updated", budget=8)
    within_budget(desk["app"], client, "/manage/tickets?q=Ticket+1&sort=subject", budget=8)


def test_counter_sees_statements(desk: dict[str, Any]) -> None:
    """The helper itself: a page that reads the database is counted."""
    client = desk["app"].test_client()
    client.set_cookie("plugdesk_kbv", VOTER)
    with statements(desk["app"]) as seen:
        client.get("/kb")
    assert seen
