"""Real headless Chromium against a real `plugdesk serve`: KB reading and voting, the IP blacklist, moderation."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from core.plugins import loadable_defaults
from core.runtime_settings import CACHE_SECONDS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PASSWORD = "a long and lovely passphrase"


def call(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """A JSON API call (stdlib only), returning (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def admin_token(site: dict[str, Any]) -> str:
    status, body = call(f"{site['url']}/api/v1/auth/login", "POST",
                        {"username": site["admin"][0], "password": site["admin"][1]})
    assert status == 200, body
    return body["token"]


def log_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_read_an_article_vote_and_blacklisted_address_is_refused(live_server, browser, screenshot):
    site = live_server(env={"PLUGDESK_SERVER_TRUSTED_PROXIES": "1"})
    url, token = site["url"], admin_token(site)
    status, cat = call(f"{url}/api/v1/kb/categories", "POST", {"name": "Getting started"}, token)
    assert status == 201
    status, article = call(f"{url}/api/v1/kb/articles", "POST", {
        "title": "Reset your password", "category_id": cat["id"], "published": True,
        "body_html": '<p>Open <strong>Profile</strong> and choose a new password.</p>'
                     '<img src="x" onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'}, token)
    assert status == 201
    reader = browser.new_context()
    page = reader.new_page()
    page.goto(f"{url}/kb")
    page.get_by_role("link", name="Reset your password").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    assert page.title() != "pwned"
    page.get_by_label("Comment (optional)").fill("Short and clear, thanks!")
    page.get_by_role("button", name="Yes, it helped").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()
    screenshot(page, "voted")
    page.reload()
    expect(page.get_by_text("You rated this article. Thank you!")).to_be_visible()
    assert page.get_by_role("button", name="Yes, it helped").count() == 0
    reader.close()

    status, _ = call(f"{url}/api/v1/settings/security", "PATCH",
                     {"security.ip_blacklist": ["203.0.113.0/24", "2001:db8::/32"]}, token)
    assert status == 200
    blocked = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    page = blocked.new_page()
    page.goto(f"{url}/kb/{article['id']}/{article['slug']}")
    page.get_by_role("button", name="No").click()
    expect(page.get_by_text("Feedback cannot be accepted from your network")).to_be_visible()
    screenshot(page, "blacklisted")
    blocked.close()
    forged = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.20"})
    page = forged.new_page()  # the proxy we trust saw 198.51.100.20; the first entry was forged by the client
    page.goto(f"{url}/kb/{article['id']}/{article['slug']}")
    page.get_by_role("button", name="No").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()
    forged.close()
    status, summary = call(f"{url}/api/v1/kb/articles/{article['id']}/feedback", token=token)
    assert (summary["helpful"], summary["not_helpful"]) == (1, 1)
    assert [c["comment"] for c in summary["comments"]] == ["Short and clear, thanks!"]

    admin = browser.new_context()
    page = admin.new_page()
    log_in(page, url, *site["admin"])
    page.goto(f"{url}/manage/kb/")
    page.get_by_role("link", name="Feedback on Reset your password").click()
    expect(page.get_by_text("Short and clear, thanks!")).to_be_visible()
    screenshot(page, "admin-feedback")
    admin.close()


def test_new_users_thread_is_pending_until_a_moderator_approves(live_server, browser, screenshot):
    site = live_server(plugins=list(dict.fromkeys([*loadable_defaults(), "moderation_newusers"])))
    url, token = site["url"], admin_token(site)
    assert call(f"{url}/api/v1/settings/security", "PATCH", {"security.moderate_new_users": True}, token)[0] == 200
    time.sleep(CACHE_SECONDS + 0.2)  # `serve` runs a worker per core: the others see a change within CACHE_SECONDS
    status, body = call(f"{url}/api/v1/auth/register", "POST",
                        {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD})
    assert status == 201, body

    author = browser.new_context()
    page = author.new_page()
    log_in(page, url, "newbie", PASSWORD)
    page.goto(f"{url}/community/")
    page.get_by_role("link", name="Start a thread").click()
    page.get_by_label("Title").fill("My printer prints blank pages")
    page.get_by_label("Message").fill("<p>Since <em>Monday</em> every page is blank.</p><script>alert(1)</script>")
    page.get_by_role("button", name="Post thread").click()
    expect(page.get_by_text("waiting for a moderator's approval").first).to_be_visible()
    expect(page.get_by_text("pending approval")).to_be_visible()
    screenshot(page, "pending-author")

    anonymous = browser.new_context()
    anon = anonymous.new_page()
    anon.goto(f"{url}/community/")
    assert anon.get_by_text("My printer prints blank pages").count() == 0

    moderator = browser.new_context()
    mod = moderator.new_page()
    log_in(mod, url, *site["admin"])
    mod.goto(f"{url}/manage/")
    mod.get_by_role("link", name="Moderation").click()
    expect(mod.get_by_text("My printer prints blank pages")).to_be_visible()
    expect(mod.get_by_text("New user: account is 0 days old")).to_be_visible()
    screenshot(mod, "queue")
    mod.get_by_label("Message to the author (optional)").fill("Welcome aboard!")
    mod.get_by_role("button", name="Approve").click()
    expect(mod.get_by_text("Approved and published.")).to_be_visible()
    expect(mod.get_by_text("Nothing to moderate.")).to_be_visible()

    anon.goto(f"{url}/community/")
    anon.get_by_role("link", name="My printer prints blank pages").click()
    assert anon.locator(".post-body em").inner_text() == "Monday"
    assert anon.get_by_text("pending approval").count() == 0
    screenshot(anon, "published")
    for ctx in (author, anonymous, moderator):
        ctx.close()
