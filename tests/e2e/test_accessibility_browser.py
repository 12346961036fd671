"""Accessibility and HTML validity of every portal and management page, in real Chromium, light and dark.

One browser, one `plugdesk serve`: each page is visited once per colour scheme and checked with axe-core
(axe-playwright-python bundles it; every rule axe runs by default, zero violations allowed) at 1280 pixels
wide, and once more at 390 (a phone) in the light scheme; every page must have unique ids; the header of
a phone shows every link within 110 pixels (the name and two lines of links) and no page is wider than the
phone's screen. Screenshots at both widths go to tests/e2e/artifacts/a11y/ (look at them).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ARTIFACTS, plugdesk_cmd
from tests.e2e.test_kb_community_browser import admin_token, call, log_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PASSWORD = "a long and lovely passphrase"
SHOTS = ARTIFACTS / "a11y"
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
DUPLICATE_IDS = "() => Object.entries([...document.querySelectorAll('[id]')].reduce((seen, e) => " \
                "(seen[e.id] = (seen[e.id] || 0) + 1, seen), {})).filter(([, n]) => n > 1).map(([id]) => id)"

#: On a phone nothing may make the page wider than the screen (a scrollable strip of links or a table's own
#: scroll box is fine); returns null, or the page width and the elements sticking out.
WIDER_THAN_SCREEN = """() => {
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= w + 1) return null;
  const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : '');
  return [document.documentElement.scrollWidth, ...[...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 1 && !clipped(e)).slice(0, 6).map(name)];
}"""


def cli(site: dict[str, Any], *args: str) -> str:
    r = subprocess.run(plugdesk_cmd("--config", str(site["config"]), *args), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def seed(site: dict[str, Any]) -> dict[str, Any]:
    """A category, an article with feedback, a community thread, a customer's ticket with a staff reply and
    a note, a canned response: every page then has something on it."""
    url, token = site["url"], admin_token(site)
    pw = Path(site["data"]) / "pw"
    pw.write_text(PASSWORD)
    for name, role in (("carla", "user"), ("agnes", "agent")):
        cli(site, "users", "create", "--username", name, "--email", f"{name}@example.com", "--role", role,
            "--password-file", str(pw), "--verified")
    users = {u["username"]: u["id"] for u in json.loads(cli(site, "users", "list", "--json"))}
    _, departments = call(f"{url}/api/v1/departments", token=token)
    general = next(d for d in (departments["items"] if isinstance(departments, dict) else departments)
                   if d["name"] == "General")
    call(f"{url}/api/v1/departments/{general['id']}", "PATCH", {"agent_ids": [users["agnes"]]}, token)
    _, category = call(f"{url}/api/v1/kb/categories", "POST", {"name": "Getting started"}, token)
    _, article = call(f"{url}/api/v1/kb/articles", "POST", {
        "title": "Reset your password", "category_id": category["id"], "published": True,
        "body_html": "<h2>Steps</h2><ol><li>Open <strong>Profile</strong></li><li>Choose a new password</li></ol>"
                     "<table><tr><th>Field</th><th>Meaning</th></tr><tr><td>Current</td><td>the old one</td>"
                     "</tr></table>"}, token)
    status, _ = call(f"{url}/api/v1/kb/articles/{article['id']}/feedback", "POST",
                     {"helpful": True, "comment": "Clear."})
    assert status in (200, 201)
    _, login = call(f"{url}/api/v1/auth/login", "POST", {"username": "carla", "password": PASSWORD})
    customer = login["token"]
    _, thread = call(f"{url}/api/v1/community/threads", "POST",
                     {"title": "Printer prints blank pages", "body_html": "<p>Since Monday.</p>"}, customer)
    _, ticket = call(f"{url}/api/v1/tickets", "POST", {"subject": "Export fails", "department_id": general["id"],
                                                        "body": "The export stops at 99 %."}, customer)
    _, agent_login = call(f"{url}/api/v1/auth/login", "POST", {"username": "agnes", "password": PASSWORD})
    call(f"{url}/api/v1/tickets/{ticket['id']}/messages", "POST", {"body": "Please try again."},
         agent_login["token"])
    call(f"{url}/api/v1/auth/password-reset", "POST", {"login": "carla"})
    return {"article": article, "category": category, "thread": thread, "ticket": ticket,
            "department": general["id"], "reset": reset_path(site, "carla@example.com")}


def reset_path(site: dict[str, Any], address: str, timeout: float = 20) -> str:
    """The path of the password-reset link the embedded worker mailed to ``address`` (outbox folder)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (Path(site["data"]) / "outbox").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(("plain",))
            found = re.search(r"https?://[^/\s]+(/password-reset/\S+)", body.get_content() if body else "")
            if address in str(message["To"]) and found:
                return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no password-reset mail to {address}")


def second_factor_user(site: dict[str, Any]) -> str:
    """A customer with an authenticator app, so the two-factor step of the login can be checked too."""
    import pyotp

    url = site["url"]
    pw = Path(site["data"]) / "pw"
    cli(site, "users", "create", "--username", "tess", "--email", "tess@example.com", "--role", "user",
        "--password-file", str(pw), "--verified")
    token = call(f"{url}/api/v1/auth/login", "POST", {"username": "tess", "password": PASSWORD})[1]["token"]
    status, made = call(f"{url}/api/v1/me/two-factor/totp", "POST", {"password": PASSWORD}, token)
    assert status == 201, made
    status, _ = call(f"{url}/api/v1/me/two-factor/totp/confirm", "POST", {"code": pyotp.TOTP(made["secret"]).now()},
                     token)
    assert status == 200
    return "tess"


class Sweep:
    """Visits pages, runs axe, checks ids, takes screenshots; collects every problem for one report."""

    def __init__(self, base: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.base = base
        self.problems: list[str] = []
        self.visited: list[str] = []

    def check(self, page: Any, where: str, label: str) -> None:
        results = self.axe.run(page)
        for violation in results.response["violations"]:
            targets = [" ".join(map(str, n["target"])) for n in violation["nodes"]][:3]
            self.problems.append(f"{label} [{where}]: {violation['id']} ({violation['impact']}) "
                                 f"{violation['help']} -> {targets}")
        duplicates = page.evaluate(DUPLICATE_IDS)
        if duplicates:
            self.problems.append(f"{label} [{where}]: duplicate ids {duplicates}")

    def visit(self, page: Any, path: str, label: str, status: int | None = None) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.visited.append(f"{label}:{path}")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size(WIDE)
            response = page.goto(self.base + path)
            assert response is not None, path
            assert response.status == status if status else response.status < 400, f"{path}: {response.status}"
            page.wait_for_load_state("load")
            self.check(page, f"{scheme} 1280", f"{label} {path}")
            name = f"{label}-{path.strip('/').replace('/', '_').replace('?', '_') or 'home'}-{scheme}"
            page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(60)  # plugdesk.js re-checks scrollable tables on resize
            if scheme == "light":
                self.check(page, "light 390", f"{label} {path}")
                height = page.evaluate("document.querySelector('header.top').getBoundingClientRect().height")
                if height > 110:
                    self.problems.append(f"{label} {path} [390]: the header is {height:.0f}px high")
                wider = page.evaluate(WIDER_THAN_SCREEN)
                if wider:
                    self.problems.append(f"{label} {path} [390]: the page is {wider[0]}px wide: {wider[1:]}")
            page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)


def links(page: Any, selector: str) -> list[str]:
    """Same-site paths of the links matching ``selector`` on the current page."""
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.href)")
    return [urlsplit(h).path + (f"?{urlsplit(h).query}" if urlsplit(h).query else "") for h in hrefs]


def test_every_page_light_and_dark_has_no_axe_violations(live_server: Any, browser: Any) -> None:
    site = live_server(workers=1)
    url = site["url"]
    data = seed(site)
    article, ticket = data["article"], data["ticket"]
    sweep = Sweep(url)

    anonymous = browser.new_context()
    page = anonymous.new_page()
    for path in ("/", "/login", "/register", "/password-reset", "/kb", f"/kb/category/{data['category']['id']}",
                 f"/kb/{article['id']}/{article['slug']}", "/kb/search?q=password", "/community/",
                 f"/community/t/{data['thread']['id']}", data["reset"]):
        sweep.visit(page, path, "anonymous")
    sweep.visit(page, "/kb/999999", "anonymous", status=404)
    log_in(page, url, second_factor_user(site), PASSWORD)
    sweep.visit(page, "/login/two-factor", "anonymous")
    anonymous.close()

    customer = browser.new_context()
    page = customer.new_page()
    log_in(page, url, "carla", PASSWORD)
    page.goto(f"{url}/community/t/{data['thread']['id']}")
    edits = links(page, "a[href*='/community/p/']")
    assert edits, "the author may edit her post"
    for path in ("/", "/tickets", f"/tickets/{ticket['id']}", "/tickets/new", "/profile", "/profile/security",
                 "/profile/sessions", "/community/new", edits[0]):
        sweep.visit(page, path, "customer")
    customer.close()

    admin = browser.new_context()
    page = admin.new_page()
    log_in(page, url, *site["admin"])
    page.goto(f"{url}/manage/")
    management = links(page, "nav.side a")
    page.goto(f"{url}/manage/settings/general")
    management += links(page, "nav.tabs a")
    page.goto(f"{url}/manage/departments/{data['department']}")
    management += links(page, "nav.tabs a")
    page.goto(f"{url}/manage/canned/new")
    page.get_by_label("Title").fill("Greeting")
    page.get_by_label("Text").fill("Hello {customer_name}")
    page.get_by_role("button", name="Save").click()
    page.goto(f"{url}/manage/canned/")
    management += links(page, "main table a")[:1]
    page.goto(f"{url}/manage/mail")
    management += links(page, "a[href*='/manage/mail/']")[:1]
    management += ["/manage/kb/new", f"/manage/kb/{article['id']}/edit", f"/manage/kb/{article['id']}/feedback",
                   f"/manage/tickets/{ticket['id']}", "/manage/tickets?status=all", "/manage/canned/new",
                   f"/manage/departments/{data['department']}"]
    for path in dict.fromkeys(management):
        sweep.visit(page, path, "admin")
    admin.close()

    assert len(sweep.visited) >= 50, sweep.visited
    counts = Counter(p.split(":")[0] for p in sweep.problems)
    assert not sweep.problems, f"{len(sweep.problems)} problems {dict(counts)}:\n" + "\n".join(sweep.problems)
