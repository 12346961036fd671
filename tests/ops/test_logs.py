"""Logs of a real `plugdesk serve`: one JSON object per line with request id, user id, route, status, duration;
never a password, a token or a message body."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import requests

from core.ops.logs import JsonFormatter, TextFormatter, mask, request_id_var

SECRET_PASSWORD = "Zebra-password-8123-never-logged"
SECRET_BODY = "Kumquat-body-5521-never-logged"


def _record(msg: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("plugdesk.test", logging.INFO, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    return record


def test_formatters_and_masking() -> None:
    token = request_id_var.set("rid-1")
    try:
        line = JsonFormatter().format(_record("GET /x 200", route="/x", status=200, user_id=7))
    finally:
        request_id_var.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "rid-1" and data["route"] == "/x" and data["user_id"] == 7 and data["level"] == "INFO"
    assert "rid-2" in TextFormatter().format(_record("hello", request_id="rid-2"))
    assert mask("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert mask("password=hunter2&x=1") == "password=***&x=1"


@pytest.mark.slow
def test_real_server_logs_are_json_and_hold_no_secrets(live_server: Any) -> None:
    site = live_server(workers=1)
    url = site["url"]
    s = requests.Session()
    admin = s.post(f"{url}/api/v1/auth/login", json={"username": "admin", "password": site["admin"][1]}).json()
    headers = {"Authorization": f"Bearer {admin['token']}"}
    r = s.post(f"{url}/api/v1/auth/register", json={"username": "dora", "email": "dora@example.com",
                                                    "password": SECRET_PASSWORD})
    assert r.status_code == 201, r.text
    dora = s.post(f"{url}/api/v1/auth/login", json={"username": "dora", "password": SECRET_PASSWORD})
    assert dora.status_code == 200
    dora_headers = {"Authorization": f"Bearer {dora.json()['token']}"}
    dept = s.post(f"{url}/api/v1/departments", json={"name": "Help", "public": True}, headers=headers).json()
    ticket = s.post(f"{url}/api/v1/tickets", json={"subject": "Logs", "body": SECRET_BODY,
                                                   "department_id": dept["id"]}, headers=dora_headers)
    assert ticket.status_code == 201, ticket.text
    reply = s.post(f"{url}/api/v1/tickets/{ticket.json()['id']}/messages", json={"body": SECRET_BODY + " again"},
                   headers={**dora_headers, "X-Request-ID": "client-chosen-id-42"})
    assert reply.headers["X-Request-ID"] == "client-chosen-id-42"
    bad = s.get(f"{url}/healthz", headers={"X-Request-ID": "not sane <script>"})
    assert bad.headers["X-Request-ID"] != "not sane <script>" and len(bad.headers["X-Request-ID"]) == 32
    s.post(f"{url}/api/v1/auth/login", json={"username": "dora", "password": "a wrong " + SECRET_PASSWORD})

    deadline = time.monotonic() + 10  # access lines are written in batches, a fifth of a second apart
    while "client-chosen-id-42" not in site["log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    text = site["log"].read_text()
    for secret in (SECRET_PASSWORD, SECRET_BODY, admin["token"], dora.json()["token"]):
        assert secret not in text
    records = []
    for line in text.splitlines():
        if line.startswith("plugdesk serving on") or not line.strip():
            continue  # the CLI's banner on stdout
        records.append(json.loads(line))  # every log line is one JSON object
    access = [r for r in records if r["logger"] == "plugdesk.access"]
    assert {"request_id", "route", "status", "duration_ms", "method"} <= set(access[0])
    mine = [r for r in access if r["request_id"] == "client-chosen-id-42"]
    assert len(mine) == 1 and mine[0]["route"] == "/api/v1/tickets/<int:ticket_id>/messages"
    assert mine[0]["status"] == 201 and mine[0]["user_id"] == ticket.json()["messages"][0].get("author_id", mine[0][
        "user_id"]) and isinstance(mine[0]["user_id"], int)
    assert any(r["logger"].startswith("gunicorn") for r in records)  # gunicorn's own lines are JSON too
    assert any(r["request_id"] == bad.headers["X-Request-ID"] for r in access)
