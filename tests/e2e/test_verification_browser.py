"""Real Chromium + real `plugdesk serve` + real SMTP listener: register, get the email, follow the link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.realservers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_register_receive_email_follow_link_banner_gone(live_server, smtp_sink, page, screenshot):
    site = live_server(extra_toml=f'[mail]\nurl = "smtp://{smtp_sink.host}:{smtp_sink.port}"\n'
                                  'sender = "help@example.com"\n')
    page.goto(f"{site['url']}/register")
    page.get_by_label("Username").fill("yara")
    page.get_by_label("Email address").fill("yara+desk@example.com")
    page.get_by_label("Password", exact=True).fill("yara's long passphrase")
    page.get_by_label("Repeat the password").fill("yara's long passphrase")
    page.get_by_role("button", name="Create account").click()
    banner = page.get_by_role("status").filter(has_text="Please confirm your email address")
    assert banner.is_visible()
    screenshot(page, "banner")
    wait_until(lambda: smtp_sink.messages, site["proc"], "the embedded worker's mail", log=site["log"])
    assert len(smtp_sink.messages) == 1 and smtp_sink.messages[0]["to"] == ["yara+desk@example.com"]
    body = smtp_sink.messages[0]["msg"].get_body(("plain",)).get_content()
    link = re.search(r"(http://127\.0\.0\.1:\d+/verify-email/\S+)", body).group(1)
    page.goto(link)
    expect(page.get_by_text("Thank you: yara+desk@example.com is confirmed.")).to_be_visible()
    assert page.get_by_text("Please confirm your email address").count() == 0
    screenshot(page, "confirmed")
