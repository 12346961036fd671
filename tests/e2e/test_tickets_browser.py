"""Browser: a customer's ticket with an attachment is answered, then closed, locked and deleted by retention runs
(`plugdesk retention run --now ...`), and `plugdesk storage gc` removes its unshared blob but keeps a shared one."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import plugdesk_cmd
from tests.realservers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PLUGINS = ["auth_local", "captcha_builtin", "storage_fs", "retention_departments", "notify_email"]
PASSWORD = "a long and unusual passphrase 7"


def cli(site, *args):
    r = subprocess.run(plugdesk_cmd("--config", str(site["config"]), *args), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def api(site, method, path, body=None, token=None, data=None, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    raw = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(site["url"] + path, data=raw, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw or b"null") if "json" in resp.headers.get("Content-Type", "") else raw
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def login_token(site, username, password):
    status, body = api(site, "POST", "/api/v1/auth/login", {"username": username, "password": password})
    assert status == 200, body
    return body["token"]


def multipart(fields, filename, content):
    boundary = "plugdeskboundary7"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                 f"Content-Type: text/plain\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def log_in(page, site, username):
    page.goto(site["url"] + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_ticket_lifecycle_with_retention_and_gc(live_server, page, browser, screenshot, tmp_path):
    site = live_server(plugins=PLUGINS, workers=1)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    for name, role in (("carol", "user"), ("dave", "user"), ("agnes", "agent")):
        cli(site, "users", "create", "--username", name, "--email", f"{name}@example.com", "--role", role,
            "--password-file", str(pw))
    admin = login_token(site, *site["admin"])
    agent_id = json.loads(cli(site, "users", "list", "--json"))
    agent_id = next(u["id"] for u in agent_id if u["username"] == "agnes")
    status, dept = api(site, "POST", "/api/v1/departments", {
        "name": "Support", "auto_close_days": 14, "lock_after_days": 7, "delete_after_days": 30,
        "agent_ids": [agent_id]}, token=admin)
    assert status == 201, dept
    unshared = b"only in carol's ticket\n" * 10
    shared = b"the same screenshot sent twice\n" * 10
    upload_dir = tmp_path / "up"
    upload_dir.mkdir()
    (upload_dir / "error.txt").write_bytes(unshared)
    (upload_dir / "screen.txt").write_bytes(shared)

    # the customer submits a ticket with two attachments in the browser
    log_in(page, site, "carol")
    page.goto(site["url"] + "/tickets/new")
    page.select_option("#department_id", label="Support")
    page.fill("#subject", "Export fails")
    page.fill("#body", "The export stops at 99%. Log and screenshot attached.")
    page.set_input_files("#files", [str(upload_dir / "error.txt"), str(upload_dir / "screen.txt")])
    screenshot(page, "1-new-ticket")
    page.click("button:has-text('Submit ticket')")
    page.wait_for_selector("text=was submitted")
    ticket_url = page.url
    ticket_id = int(ticket_url.rsplit("/", 1)[1])
    assert page.is_visible("text=error.txt") and page.is_visible("text=screen.txt")
    screenshot(page, "2-submitted")

    # another customer's ticket shares one blob
    body, ctype = multipart({"subject": "Same here", "department_id": dept["id"], "body": "see screen"},
                            "screen-copy.txt", shared)
    status, other = api(site, "POST", "/api/v1/tickets", token=login_token(site, "dave", PASSWORD), data=body,
                        content_type=ctype)
    assert status == 201, other
    digests = {a["filename"]: a["sha256"] for m in
               api(site, "GET", f"/api/v1/tickets/{ticket_id}", token=admin)[1]["messages"] for a in m["attachments"]}
    assert other["messages"][0]["attachments"][0]["sha256"] == digests["screen.txt"]

    # the agent answers in the management interface
    agent_page = browser.new_page()
    log_in(agent_page, site, "agnes")
    agent_page.goto(site["url"] + "/manage/tickets")
    agent_page.click("text=Export fails")
    agent_page.fill("#body", "Please try again with the new version; it fixes the export.")
    agent_page.click("#agent-reply button[type=submit]")
    agent_page.wait_for_selector("text=Reply sent.")
    screenshot(agent_page, "3-agent-replied")
    wait_until(lambda: any("Export fails" in p.read_text() for p in (site["data"] / "outbox").glob("*.eml")),
               site["proc"], "notify_email's mail (sent by the worker embedded in serve)", log=site["log"])

    start = datetime.now(UTC)

    def retention(days):
        return json.loads(cli(site, "retention", "run", "--json", "--now",
                              (start + timedelta(days=days)).isoformat()))["departments"]["Support"]

    assert retention(15) == {"closed": 1, "locked": 0, "deleted": 0}
    page.goto(ticket_url)
    assert page.inner_text("#status") == "Closed" and page.is_visible("#reply-form")
    screenshot(page, "4-closed")
    assert retention(23) == {"closed": 0, "locked": 1, "deleted": 0}
    page.goto(ticket_url)
    assert page.is_visible("#locked") and not page.is_visible("#reply-form")
    screenshot(page, "5-locked")
    assert retention(46) == {"closed": 0, "locked": 0, "deleted": 1}
    assert page.goto(ticket_url).status == 404
    screenshot(page, "6-deleted")

    # the admin sees the last run on the Departments page
    admin_page = browser.new_page()
    admin_page.goto(site["url"] + "/login")
    admin_page.fill("#username", site["admin"][0])
    admin_page.fill("#password", site["admin"][1])
    admin_page.click("button[type=submit]")
    admin_page.goto(site["url"] + "/manage/departments")
    assert "Last run:" in admin_page.inner_text("#retention-runs")
    screenshot(admin_page, "7-departments")

    gc = cli(site, "storage", "gc", "--grace-seconds", "0")
    stored = {p.name for p in Path(site["data"]).rglob("*") if p.is_file()}

    def on_disk(digest):
        return any(digest in name for name in stored)

    assert not on_disk(digests["error.txt"]), gc
    assert on_disk(digests["screen.txt"])
    status, content = api(site, "GET", f"/api/v1/attachments/{other['messages'][0]['attachments'][0]['id']}",
                          token=login_token(site, "dave", PASSWORD))
    assert status == 200 and content == shared
