"""Real `plugdesk serve` + real Chromium: register with the built-in captcha solved, refused with a wrong answer.

The answer is derived the way the server sees it: from the token in the page's hidden field, decrypted with the
app's own secret (the data dir's ``secret_key`` file). Production code has no test-only route.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from plugins.captcha_builtin import reveal_answer
from tests.conftest import plugdesk_cmd

PASSWORD = "a long enough passphrase 42"
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def enable_captcha(site: dict[str, Any]) -> None:
    """Switch the built-in captcha on through the CLI, then wait until the running server shows it."""
    for key, value in (("security.captcha.provider", "builtin"), ("security.captcha.enabled", "true")):
        subprocess.run(plugdesk_cmd("--config", str(site["config"]), "settings", "set", key, value),
                       check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{site['url']}/register", timeout=5) as page:
            if b'name="captcha_token"' in page.read():
                return
        time.sleep(0.2)
    raise AssertionError("the server never showed the captcha after it was switched on")


def fill_account(page: Any, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email address").fill(f"{username}@example.com")
    page.get_by_label("Display name (optional)").fill("Browser Tester")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)


def test_register_with_the_builtin_captcha(live_server: Callable[..., dict[str, Any]], page: Any,
                                           screenshot: Callable[[Any, str], Path]) -> None:
    site = live_server()
    enable_captcha(site)
    secret = (site["data"] / "secret_key").read_text().strip()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{site['url']}/register")
    box = page.locator("fieldset.captcha-builtin")
    box.wait_for()
    token_field = page.locator('input[name="captcha_token"]')
    image = box.locator("img.captcha-image")
    page.wait_for_function("img => img.complete && img.naturalWidth === 200", arg=image.element_handle())
    assert image.get_attribute("alt")
    new_button = box.get_by_role("button", name="New challenge")
    new_button.wait_for(state="visible")  # visible only once captcha.js ran (CSP allows only 'self' scripts)
    audio_src = box.locator("audio").get_attribute("src")
    wav = page.request.get(f"{site['url']}{audio_src}")
    assert wav.status == 200 and wav.headers["content-type"] == "audio/wav" and wav.body()[:4] == b"RIFF"

    # Keyboard only: from the answer box, Tab reaches "New challenge" and Enter loads a new one.
    first = token_field.input_value()
    answer_box = page.get_by_label("Type the 6 characters you see or hear")
    answer_box.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "New challenge"
    page.keyboard.press("Enter")
    page.wait_for_function("t => document.querySelector('input[name=captcha_token]').value !== t", arg=first)
    assert box.locator("[role=status]").text_content() == "New challenge loaded."
    assert first not in (image.get_attribute("src") or "")
    screenshot(page, "1-challenge")

    # A wrong answer is refused and the form keeps what was typed.
    fill_account(page, "browser_user")
    answer_box.fill("WRONG7")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    assert "did not match" in page.locator("fieldset.captcha-builtin").locator("xpath=..").inner_text()
    assert page.get_by_label("Username").input_value() == "browser_user"
    assert page.get_by_label("Email address").input_value() == "browser_user@example.com"
    assert page.get_by_label("Display name (optional)").input_value() == "Browser Tester"
    assert page.get_by_text("Log out").count() == 0
    screenshot(page, "2-refused")

    # The right answer (as the server knows it) in lower case with spaces around it is accepted.
    answer = reveal_answer(token_field.input_value(), secret)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_label("Type the 6 characters you see or hear").fill(f"  {answer.lower()} ")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Welcome! Your account is ready.").wait_for()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    screenshot(page, "3-registered")
    assert not [p for p in problems if "Content Security Policy" in p or "captcha" in p.lower()], problems
