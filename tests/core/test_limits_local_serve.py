"""`plugdesk serve` with the default ``local://`` counters: two worker processes, one exact lockout."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import plugdesk_cmd

PASSWORD = "correct horse battery staple 22"


def _login(url: str, password: str) -> int:
    """POST /api/v1/auth/login on a new connection; the status code."""
    req = urllib.request.Request(f"{url}/api/v1/auth/login", method="POST",
                                 data=json.dumps({"username": "walt", "password": password}).encode(),
                                 headers={"Content-Type": "application/json", "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_two_workers_share_the_lockout(live_server: Any, tmp_path: Any) -> None:
    site = live_server(workers=2)
    assert 'storage = "local://"' in site["config"].read_text()  # what `init` writes
    pw = tmp_path / "walt.pw"
    pw.write_text(PASSWORD)
    subprocess.run(plugdesk_cmd("--config", str(site["config"]), "users", "create", "--username", "walt",
                                "--email", "walt@example.com", "--role", "user", "--password-file", str(pw)),
                   check=True, capture_output=True)
    assert _login(site["url"], PASSWORD) == 200
    statuses = [_login(site["url"], f"wrong password {i}") for i in range(11)]
    assert statuses == [401] * 11
    assert _login(site["url"], PASSWORD) == 401  # > 10 failures in 5 minutes, counted across both workers
    booted = set(re.findall(r"Booting worker with pid: (\d+)", site["log"].read_text()))
    assert len(booted) == 2, booted
    assert (site["data"] / "limits.db").exists()
