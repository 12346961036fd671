"""Browser: a ticket that arrived by email (real Dovecot, mail_imap on `plugdesk worker --once`), the agent's
reply on the web, and the customer's emailed answer, in one thread with the quoted history folded."""

from __future__ import annotations

import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import plugdesk_cmd
from tests.e2e.test_tickets_browser import api, login_token
from tests.inbound_mail import message
from tests.plugins.mail_imap.conftest import dovecot, mailbox  # noqa: F401  (the real-server fixtures)
from tests.plugins.mail_imap.dovecot import Dovecot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PLUGINS = ["auth_local", "captcha_builtin", "storage_fs", "notify_email", "mail_imap"]
PDF = b"%PDF-1.4\n" + b"0" * 300


def run_worker(site: dict) -> str:
    r = subprocess.run(plugdesk_cmd("--config", str(site["config"]), "worker", "--once"), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_for_messages(site: dict, token: str, count: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run_worker(site)
        status, ticket = api(site, "GET", "/api/v1/tickets/1", token=token)
        if status == 200 and len(ticket["messages"]) >= count:
            return ticket
        time.sleep(1)
    raise AssertionError(f"ticket 1 did not reach {count} messages")


def test_mail_born_ticket_thread(live_server, dovecot: Dovecot, mailbox: str, page, screenshot):  # noqa: F811
    toml = (f'[[plugins.mail_imap.mailboxes]]\nname = "support"\nhost = "127.0.0.1"\nport = {dovecot.tls_port}\n'
            f'security = "tls"\nca_file = "{dovecot.ca}"\nusername = "{mailbox}"\n'
            f'password = "{dovecot.users[mailbox]}"\ndepartment = "General"\naddress = "support@help.example"\n'
            'poll_seconds = 5\n')
    site = live_server(plugins=PLUGINS, workers=1, extra_toml=toml, env={"PLUGDESK_WORKER_EMBEDDED": "false"})
    token = login_token(site, *site["admin"])
    dovecot.append(mailbox, message(sender="Carol Customer <carol@example.com>", subject="Invoice export fails",
                                    body="The export of March invoices fails with error 500.",
                                    msgid="<carol-1@example.com>",
                                    attachments=[("screenshot.pdf", "application/pdf", PDF)]))
    ticket = wait_for_messages(site, token, 1)
    assert ticket["subject"] == "Invoice export fails"
    assert [a["filename"] for a in ticket["messages"][0]["attachments"]] == ["message.eml", "screenshot.pdf"]

    page.goto(site["url"] + "/login")
    page.fill("#username", site["admin"][0])
    page.fill("#password", site["admin"][1])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(site["url"] + "/manage/tickets/1")
    assert "The export of March invoices fails" in page.inner_text("main")
    page.fill("#body", "Please try again with version 2.1; it fixes the export.")
    page.click("#agent-reply button[type=submit]")
    page.wait_for_load_state()

    run_worker(site)  # sends the notification (written to DATA_DIR/outbox as .eml)
    sent = [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(Path(site["data"], "outbox").glob("*.eml"))]
    notification = next(m for m in sent if "carol@example.com" in str(m["To"]))
    assert "[#1]" in str(notification["Subject"])
    dovecot.append(mailbox, message(
        sender="Carol Customer <carol@example.com>", subject=f"Re: {notification['Subject']}",
        body="Version 2.1 works, thank you!\n\nOn Tue, Help Desk wrote:\n> Please try again with version 2.1",
        in_reply_to=str(notification["Message-ID"]),
        references=["<carol-1@example.com>", str(notification["Message-ID"])]))
    ticket = wait_for_messages(site, token, 3)
    assert [m["from_agent"] for m in ticket["messages"]] == [False, True, False]

    page.reload()
    text = page.inner_text("main")
    for expected in ("The export of March invoices fails", "Please try again with version 2.1",
                     "Version 2.1 works, thank you!"):
        assert expected in text
    quoted = page.locator("details.quoted").last
    assert quoted.is_visible() and not quoted.locator(".quoted-text").is_visible()
    quoted.locator("summary").click()
    assert "On Tue, Help Desk wrote:" in quoted.inner_text()
    screenshot(page, "thread")
