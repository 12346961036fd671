"""Real headless Chromium against a real `plugdesk serve`: register, log in, portal, manage, log out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_register_login_portal_logout(live_server, page, screenshot):
    site = live_server()
    url = site["url"]
    page.goto(f"{url}/")
    screenshot(page, "home")
    page.get_by_role("link", name="Register").first.click()
    page.get_by_label("Username").fill("Walter")
    page.get_by_label("Email address").fill("walter@example.com")
    page.get_by_label("Display name (optional)").fill("Walter <b>White</b>")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Use at least 8 characters.")).to_be_visible()
    assert page.get_by_label("Username").input_value() == "Walter"  # what was typed is kept
    screenshot(page, "register-error")
    page.get_by_label("Password", exact=True).fill("a long and lovely passphrase")
    page.get_by_label("Repeat the password").fill("a long and lovely passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    expect(page.get_by_role("link", name="Walter <b>White</b>")).to_be_visible()  # escaped, shown literally
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Username or email").fill("WALTER")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("The username or password is incorrect")
    page.get_by_label("Password").fill("a long and lovely passphrase")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{url}/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    screenshot(page, "profile")
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{url}/profile")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_admin_sees_management_pages(live_server, page, screenshot):
    site = live_server()
    url = site["url"]
    page.goto(f"{url}/login")
    page.get_by_label("Username or email").fill(site["admin"][0])
    page.get_by_label("Password").fill(site["admin"][1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Manage").click()
    screenshot(page, "dashboard")
    page.get_by_role("navigation", name="Management").get_by_role("link", name="Settings", exact=True).click()
    assert page.get_by_label("Brute force protection").is_checked()
    screenshot(page, "settings")
    page.get_by_label("Failed logins before lockout").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("must be at least 1")).to_be_visible()
    page.get_by_label("Failed logins before lockout").fill("7")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved (1 change).")).to_be_visible()
    page.get_by_role("link", name="Password Requirements").click()
    screenshot(page, "settings-passwords")
    page.get_by_role("link", name="Plugins").click()
    expect(page.get_by_role("cell", name="auth_local")).to_be_visible()
    screenshot(page, "plugins")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="security.brute_force.max_failures")).to_be_visible()
    screenshot(page, "audit")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{url}/manage/settings")
    screenshot(page, "settings-phone")
