"""The walk-through of issue 18 in real Chromium against a real `plugdesk serve` (init's "General"
department, the built-in captcha switched on):

anonymous search from the home page → article → feedback; register with two mistakes at once (both
reported) → confirm the address from the email → submit a ticket with no captcha → the agent answers with a
canned response from the conversation view → the customer replies → the ticket is deleted after confirming
(a cancelled confirmation deletes nothing) → the next ticket gets a new number.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from plugins.captcha_builtin import reveal_answer
from tests.conftest import plugdesk_cmd
from tests.e2e.test_kb_community_browser import admin_token, call, log_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PASSWORD = "a long and lovely passphrase"


def cli(site: dict[str, Any], *args: str) -> str:
    r = subprocess.run(plugdesk_cmd("--config", str(site["config"]), *args), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def mail_to(site: dict[str, Any], address: str, timeout: float = 20) -> str:
    """The plain text of the newest message to ``address`` the embedded worker wrote to the outbox folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((site["data"] / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]):
                return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} in {site['data'] / 'outbox'}")


def test_walkthrough(live_server: Any, browser: Any, screenshot: Any) -> None:
    site = live_server(workers=1)
    url = site["url"]
    secret = (site["data"] / "secret_key").read_text().strip()
    pw = Path(site["data"]) / "agent.pw"
    pw.write_text(PASSWORD)
    cli(site, "users", "create", "--username", "agnes", "--email", "agnes@example.com", "--role", "agent",
        "--password-file", str(pw))
    cli(site, "settings", "set", "security.captcha.provider", "builtin")
    cli(site, "settings", "set", "security.captcha.enabled", "true")
    token = admin_token(site)
    agnes = next(u["id"] for u in json.loads(cli(site, "users", "list", "--json")) if u["username"] == "agnes")
    status, departments = call(f"{url}/api/v1/departments", token=token)
    general = next(d for d in (departments["items"] if isinstance(departments, dict) else departments)
                   if d["name"] == "General")
    assert call(f"{url}/api/v1/departments/{general['id']}", "PATCH", {"agent_ids": [agnes]}, token)[0] == 200
    status, article = call(f"{url}/api/v1/kb/articles", "POST", {
        "title": "Reset your password", "published": True,
        "body_html": "<p>Open <strong>Profile</strong> and choose a new password.</p>"}, token)
    assert status == 201, article

    # -- the admin writes a canned response for General
    admin = browser.new_context()
    boss = admin.new_page()
    log_in(boss, url, *site["admin"])
    boss.goto(f"{url}/manage/canned/new")
    boss.get_by_label("Title").fill("Greeting")
    boss.get_by_label("Department").select_option(label="General")
    boss.get_by_label("Text").fill("Hello {customer_name}, thank you for ticket #{ticket_id}. We are on it.")
    boss.get_by_role("button", name="Save").click()
    expect(boss.get_by_text("Saved “Greeting”.")).to_be_visible()

    # -- anonymous: search from the home page, read, give feedback
    visitor = browser.new_context()
    page = visitor.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{url}/")
    page.get_by_role("searchbox", name="Search the knowledge base").press_sequentially("resett"[:5], delay=40)
    result = page.locator("#home-results").get_by_role("link", name="Reset your password")
    result.wait_for()
    assert "1 article matches." in page.locator("#home-search-status").text_content()
    screenshot(page, "1-search-as-you-type")
    result.click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_role("button", name="Yes, it helped").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()

    # -- register with two mistakes at once: both are reported
    page.goto(f"{url}/register")
    page.get_by_label("Username").fill("carla")
    page.get_by_label("Email address").fill("carla@example.com")
    page.get_by_label("Display name (optional)").fill("Carla")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD + " typo")
    page.get_by_label("Type the 6 characters you see or hear").fill("WRONG7")
    page.get_by_role("button", name="Create account").click()
    summary = page.locator("#error-summary")
    assert "these 2 fields" in summary.inner_text()
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    assert "did not match" in page.locator("#captcha-err").inner_text()
    screenshot(page, "2-two-mistakes")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    answer = reveal_answer(page.locator('input[name="captcha_token"]').input_value(), secret)
    page.get_by_label("Type the 6 characters you see or hear").fill(answer)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    assert "Welcome, Carla." in page.locator(".hero").inner_text()  # not "Welcome back" on the first visit
    link = re.search(r"(http://127\.0\.0\.1:\d+/verify-email/\S+)", mail_to(site, "carla@example.com")).group(1)
    page.goto(link)
    expect(page.get_by_text("carla@example.com is confirmed")).to_be_visible()

    # -- the verified customer submits a ticket: no captcha
    page.goto(f"{url}/")
    page.get_by_role("link", name="Submit a ticket").first.click()
    assert page.locator('input[name="captcha_token"]').count() == 0
    page.get_by_label("Subject").fill("Printer on fire")
    page.get_by_label("Message").fill("It smells of toast.")
    page.get_by_role("button", name="Submit ticket").click()
    expect(page.get_by_text("was submitted")).to_be_visible()
    ticket_url = page.url
    ticket_id = int(ticket_url.rsplit("/", 1)[1])

    # -- the agent answers with the canned response from the conversation view
    desk = browser.new_context()
    agent = desk.new_page()
    log_in(agent, url, "agnes", PASSWORD)
    agent.goto(f"{url}/manage/tickets")
    agent.get_by_role("link", name="Printer on fire").click()
    agent.get_by_role("heading", name=f"#{ticket_id} Printer on fire").wait_for()
    agent.wait_for_load_state("load")
    agent.keyboard.press("r")  # shortcut: to the reply box
    assert agent.evaluate("document.activeElement.id") == "body"
    agent.get_by_label("Canned response").select_option(label="Greeting")
    agent.get_by_role("button", name="Insert").click()
    assert agent.locator("#body").input_value() == (f"Hello Carla, thank you for ticket #{ticket_id}. "
                                                    "We are on it.")
    screenshot(agent, "3-conversation-with-canned-response")
    agent.locator("#agent-reply").get_by_role("button", name="Send").click()
    expect(agent.get_by_text("Reply sent.")).to_be_visible()
    expect(agent.locator(".bubble.staff").filter(has_text="thank you for ticket")).to_be_visible()

    # -- the customer replies
    page.goto(ticket_url)
    expect(page.get_by_text(f"Hello Carla, thank you for ticket #{ticket_id}.")).to_be_visible()
    page.get_by_label("Your reply").fill("Thanks, the fire is out.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply was sent.")).to_be_visible()
    agent.reload()
    expect(agent.locator(".bubble.customer").filter(has_text="the fire is out")).to_be_visible()

    # -- deleting asks first: Cancel deletes nothing, OK deletes
    boss.goto(f"{url}/manage/tickets/{ticket_id}")
    questions: list[str] = []

    def answer_dialog(accept: bool) -> Any:
        def handle(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    boss.once("dialog", answer_dialog(False))
    boss.get_by_role("button", name="Delete ticket").click()
    boss.wait_for_timeout(300)
    assert boss.url.endswith(f"/manage/tickets/{ticket_id}") and len(questions) == 1
    assert f"Delete ticket #{ticket_id}" in questions[0]
    assert call(f"{url}/api/v1/tickets/{ticket_id}", token=token)[0] == 200
    boss.once("dialog", answer_dialog(True))
    boss.get_by_role("button", name="Delete ticket").click()
    expect(boss.get_by_text(f"Ticket #{ticket_id} was deleted.")).to_be_visible()
    assert call(f"{url}/api/v1/tickets/{ticket_id}", token=token)[0] == 404

    # -- the next ticket gets a new number
    page.goto(f"{url}/tickets/new")
    page.get_by_label("Subject").fill("Another question")
    page.get_by_label("Message").fill("Is the printer safe now?")
    page.get_by_role("button", name="Submit ticket").click()
    expect(page.get_by_text("was submitted")).to_be_visible()
    assert int(page.url.rsplit("/", 1)[1]) == ticket_id + 1
    assert not [p for p in problems if "Content Security Policy" in p], problems
    for context in (admin, visitor, desk):
        context.close()
