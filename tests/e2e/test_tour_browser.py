"""The pictures of docs/tour.md, taken in real Chromium against a real `plugdesk serve`, and a check that the
pages they show work: search as you type, the Markdown editor's live preview, a canned response inserted in
the conversation view, the dashboard's setup checklist, branding, a phone in the dark scheme.

Every run saves the pictures to tests/e2e/artifacts/tour/; with ``UPDATE_DOCS_TOUR=1`` it also writes
small copies (800 pixels wide, 128 colours) to docs/tour/, the ones the tour shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.e2e.test_accessibility_browser import PASSWORD, seed
from tests.e2e.test_kb_community_browser import call, log_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
SHOTS = ARTIFACTS / "tour"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "tour"
WIDE, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def picture(page: Any, name: str) -> Path:
    """Screenshot of the viewport to the artifacts; a small copy to docs/tour/ when asked to update it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("UPDATE_DOCS_TOUR") == "1":
        from PIL import Image

        DOCS.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            width = min(800, image.width)
            small = image.convert("RGB").resize((width, round(image.height * width / image.width)),
                                                Image.Resampling.LANCZOS)
            small.quantize(colors=128).save(DOCS / f"{name}.png", optimize=True)
    return path


def test_tour(live_server: Any, browser: Any) -> None:
    site = live_server(workers=1)
    url = site["url"]
    data = seed(site)
    ticket = data["ticket"]["id"]
    carla = call(f"{url}/api/v1/auth/login", "POST", {"username": "carla", "password": PASSWORD})[1]["token"]
    status, second = call(f"{url}/api/v1/tickets", "POST", {"subject": "Invoice twice", "body": "Charged twice.",
                                                            "department_id": data["department"]}, carla)
    assert status == 201, second

    admin = browser.new_context(viewport=WIDE)
    boss = admin.new_page()
    log_in(boss, url, *site["admin"])
    boss.goto(f"{url}/manage/canned/new")
    boss.get_by_label("Title").fill("Greeting")
    boss.get_by_label("Text").fill("Hello {customer_name}, thank you for ticket #{ticket_id}. We are on it.")
    boss.get_by_role("button", name="Save").click()
    boss.goto(f"{url}/manage/")
    expect(boss.get_by_text("Finish setting up")).to_be_visible()
    picture(boss, "5-dashboard-setup-checklist")
    boss.goto(f"{url}/manage/kb/new")
    boss.get_by_label("Title").fill("Connect the printer")
    boss.get_by_label("Body format").select_option("markdown")
    boss.get_by_label("Body", exact=True).fill(
        "## Before you start\n\nYou need the **admin password** of the printer.\n\n"
        "1. Open *Settings › Devices*\n2. Choose **Add printer**\n\n| Model | Driver |\n|---|---|\n"
        "| LX-200 | built in |\n| LX-300 | [download](https://example.com/lx300) |\n")
    boss.locator("#live-preview h2").filter(has_text="Before you start").wait_for()
    assert boss.locator("#live-preview table td").first.inner_text() == "LX-200"
    picture(boss, "4-kb-editor-live-preview")
    boss.goto(f"{url}/manage/settings/branding")
    picture(boss, "6-branding")

    visitor = browser.new_context(viewport=WIDE)
    page = visitor.new_page()
    page.goto(f"{url}/")
    page.get_by_role("searchbox", name="Search the knowledge base").press_sequentially("passw", delay=40)
    page.locator("#home-results").get_by_role("link", name="Reset your password").wait_for()
    picture(page, "1-home-search-as-you-type")

    desk = browser.new_context(viewport={"width": 1280, "height": 1150})  # the reply box and the conversation
    agent = desk.new_page()
    log_in(agent, url, "agnes", PASSWORD)
    agent.goto(f"{url}/manage/tickets/{ticket}")
    agent.wait_for_load_state("load")
    agent.get_by_label("Canned response").select_option(label="Greeting")
    agent.get_by_role("button", name="Insert").click()
    assert "thank you for ticket" in agent.locator("#body").input_value()
    picture(agent, "3-agent-conversation")
    agent.locator("h1").click()  # out of the text box: the keys are shortcuts again
    agent.keyboard.press("n")
    agent.wait_for_url(f"**/manage/tickets/{second['id']}")
    agent.wait_for_load_state("load")
    agent.keyboard.press("q")
    agent.wait_for_url("**/manage/tickets?department=*")

    phone = browser.new_context(viewport=PHONE, color_scheme="dark")
    customer = phone.new_page()
    log_in(customer, url, "carla", PASSWORD)
    customer.goto(f"{url}/tickets/{ticket}")
    expect(customer.get_by_text("Please try again.")).to_be_visible()
    picture(customer, "2-customer-ticket-phone-dark")
    for context in (admin, visitor, desk, phone):
        context.close()
