"""Portal home (KB search box, categories with counts, newest, most helpful, guiding empty state), the
greeting, registration reporting every problem at once, the default department of ``init``, the dashboard's
setup checklist, the approval email's link and the ticket queue's landing tab."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from core.app_state import state
from core.kb import feedback as fb
from core.kb.service import create_category
from core.models import User, utcnow
from core.testing import create_user, deliver_mail
from core.tickets.departments import save_department
from tests.kb.helpers import csrf, make_article, set_setting, token_for


@pytest.fixture
def app(plugdesk_app_factory):
    return plugdesk_app_factory(["auth_local", "storage_fs", "captcha_builtin", "moderation_newusers"])


def test_empty_knowledge_base_guides_customers_and_staff(app, login_as):
    page = app.test_client().get("/").get_data(as_text=True)
    assert "The knowledge base is still empty" in page and "submit a ticket" in page
    assert 'id="home-q"' in page and "kb-search.js" in page and 'data-api="/api/v1/kb/articles"' in page
    agent, _ = login_as(app, "agent")
    assert "Write the first article" in agent.get("/").get_data(as_text=True)


def test_home_lists_categories_with_counts_newest_and_most_helpful(app):
    st = state(app)
    billing = create_category(st, "Billing")
    invoices = create_category(st, "Invoices", billing.id)
    create_category(st, "Empty")
    make_article(app, title="Pay by card", category_id=billing.id)
    make_article(app, title="Invoice address", category_id=invoices.id)
    make_article(app, title="Draft", category_id=billing.id, published=False)
    liked = make_article(app, title="Reset your password")
    for voter, helpful in (("b:1", True), ("b:2", True), ("b:3", False)):
        fb.record_feedback(st, article_id=liked.id, voter=voter, user=None, helpful=helpful, comment="",
                           remote_addr="192.0.2.1")
    page = app.test_client().get("/").get_data(as_text=True)
    assert re.search(r">Billing</a> <span class=\"count\">\(2 articles\)", page)  # subcategories count too
    assert re.search(r">Empty</a> <span class=\"count\">\(0 articles\)", page) and "Invoices</a>" not in page
    newest = page.split('id="newest-title"')[1].split("</section>")[0]
    assert newest.index("Reset your password") < newest.index("Pay by card") and "Draft" not in newest
    helpful = page.split('id="helpful-title"')[1].split("</section>")[0]
    assert "Reset your password" in helpful and "(2 found it helpful)" in helpful
    listed = app.test_client().get("/api/v1/kb/articles?q=invo&limit=6").get_json()  # what kb-search.js asks
    assert [i["title"] for i in listed["items"]] == ["Invoice address"] and listed["items"][0]["slug"]


def test_welcome_back_only_for_returning_users(app, login_as):
    client, user = login_as(app, "user")
    page = client.get("/").get_data(as_text=True)
    assert "Welcome, <strong>" in page and "Welcome back" not in page
    with state(app).db.session() as s:
        s.execute(update(User).where(User.id == user.id).values(last_login_at=utcnow() + timedelta(days=2)))
    assert "Welcome back, <strong>" in client.get("/").get_data(as_text=True)


def test_registration_reports_every_problem_at_once(app):
    set_setting(app, "security.captcha.enabled", True)
    set_setting(app, "security.captcha.provider", "builtin")
    create_user(app, username="taken")
    client = app.test_client()
    page = client.get("/register").get_data(as_text=True)
    r = client.post("/register", data={"csrf_token": csrf(page), "username": "taken", "email": "nope",
                                       "display_name": "", "password": "short", "confirm": "shorter",
                                       "captcha_token": "x", "captcha_answer": "wrong"})
    text = r.get_data(as_text=True)
    assert r.status_code == 400
    for message in ("This username is taken", "Enter a valid email address", "at least 8 characters",
                    "The two passwords differ", 'id="captcha-err"'):
        assert message in text, message
    assert "these 5 fields" in text and 'href="#confirm"' in text
    r = client.post("/register", data={"csrf_token": csrf(page), "username": "", "email": "", "password": "",
                                       "confirm": ""})
    text = r.get_data(as_text=True)
    assert all(m in text for m in ("Choose a username.", "Enter your email address.", "Choose a password.",
                                   "Repeat the password.", 'id="captcha-err"'))
    assert text.count('id="csrf_token"') == 0  # several forms on a page never repeat this id


def test_init_creates_the_public_department_general_unless_told_not_to(tmp_path):
    from core.cli import main

    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("admin password for tests\n")
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "a"), "--admin-password-file", str(pw)])
    assert r.exit_code == 0 and '"General"' in r.output
    from core.app import create_app

    token_app = create_app(str(tmp_path / "a" / "plugdesk.toml"))
    with state(token_app).db.session() as s:
        from sqlalchemy import select

        from core.tickets.models import Department

        depts = [(d.name, d.public) for d in s.scalars(select(Department))]
    assert depts == [("General", True)]
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "b"), "--admin-password-file", str(pw),
                             "--no-default-department"])
    assert r.exit_code == 0 and "General" not in r.output
    r = runner.invoke(main, ["--config", str(tmp_path / "b" / "plugdesk.toml"), "users", "list", "--json"])
    assert json.loads(r.output)[0]["username"] == "admin"


def test_dashboard_setup_checklist_until_done(app, login_as):
    admin, _ = login_as(app, "admin")
    page = admin.get("/manage/").get_data(as_text=True)
    assert "Finish setting up" in page and "0 of 6 done" in page and "Add a department" in page
    st = state(app)
    agent = create_user(app, "agent")
    with st.db.session() as s:
        save_department(s, None, {"name": "Support", "agent_ids": [agent.id]}, actor="t")
    make_article(app)
    page = admin.get("/manage/").get_data(as_text=True)
    assert "3 of 6 done" in page and 'class="done" id="setup-department"' in page
    agent_client, _ = login_as(app, "agent")
    assert "Finish setting up" not in agent_client.get("/manage/").get_data(as_text=True)
    set_setting(app, "security.captcha.enabled", True)
    set_setting(app, "security.captcha.provider", "builtin")
    set_setting(app, "branding.name", "Acme Support")
    st.settings.values["mail"]["url"] = "smtp://127.0.0.1:25"  # as [mail] url in plugdesk.toml
    assert "Finish setting up" not in admin.get("/manage/").get_data(as_text=True)


def test_approval_email_links_to_the_thread(app):
    set_setting(app, "security.moderate_new_users", True)
    newbie, agent = create_user(app, "user"), create_user(app, "agent")
    c = app.test_client()
    tid = c.post("/api/v1/community/threads", json={"title": "First post", "body_html": "<p>Hello</p>"},
                 headers=token_for(app, newbie)).get_json()["id"]
    assert c.post(f"/api/v1/moderation/{tid}/approve", headers=token_for(app, agent)).status_code == 200
    deliver_mail(app)
    mails = [p.read_text() for p in (state(app).settings.data_dir / "outbox").glob("*.eml")]
    assert any(f"http://127.0.0.1:8080/community/t/{tid}" in m for m in mails), mails


def test_after_an_agent_reply_the_queue_lands_on_a_useful_tab(app, login_as):
    st = state(app)
    agent_client, agent = login_as(app, "agent")
    customer = create_user(app)
    with st.db.session() as s:
        dept = save_department(s, None, {"name": "Support", "agent_ids": [agent.id]}, actor="t").id
    from core.tickets import service

    with st.db.session() as s:
        cust = s.get(User, customer.id)
    tid = service.create_ticket(st, user=cust, department_id=dept, subject="Printer on fire", body="Help")
    view = agent_client.get(f"/manage/tickets/{tid}").get_data(as_text=True)
    r = agent_client.post(f"/manage/tickets/{tid}/reply", data={"csrf_token": csrf(view), "body": "On it."})
    assert r.status_code == 302
    queue = agent_client.get(f"/manage/tickets?department={dept}").get_data(as_text=True)
    assert "No open tickets" in queue and "showing Waiting for customer" in queue and "Printer on fire" in queue
    assert "Open (0)" in queue and "Printer on fire" not in agent_client.get("/manage/tickets?status=open").get_data(
        as_text=True)
