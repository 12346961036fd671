"""A backup taken while a load generator uploads files and posts replies to a real `plugdesk serve` restores to an
instance whose fsck is clean and whose every ticket and attachment is byte-identical."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ops.helpers import Client, attachments_of, cli, pdf, summary

pytestmark = pytest.mark.slow


class Load:
    """Threads that open tickets with attachments and reply with more, until stopped."""

    def __init__(self, url: str, token: str, department: int) -> None:
        self.url, self.department = url, department
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stop = threading.Event()
        self.uploaded: dict[str, bytes] = {}
        self.errors: list[str] = []
        self.requests = 0
        self.lock = threading.Lock()

    def _files(self, seed: int, n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
        out = []
        for i in range(n):
            content = pdf(seed * 10 + i, 20_000 + (seed * 7919 + i) % 200_000)
            with self.lock:
                self.uploaded[hashlib.sha256(content).hexdigest()] = content
            out.append(("files", (f"f{seed}-{i}.pdf", content, "application/pdf")))
        return out

    def worker(self, number: int) -> None:
        session = requests.Session()
        seed = number * 100_000
        while not self.stop.is_set():
            seed += 1
            try:
                r = session.post(f"{self.url}/api/v1/tickets", headers=self.headers, timeout=30,
                                 data={"subject": f"Load {seed}", "body": f"Body of {seed}",
                                       "department_id": str(self.department)}, files=self._files(seed, 2))
                if r.status_code != 201:
                    self.errors.append(f"create {r.status_code}: {r.text[:200]}")
                    continue
                ticket = r.json()["id"]
                seed += 1
                r = session.post(f"{self.url}/api/v1/tickets/{ticket}/messages", headers=self.headers, timeout=30,
                                 data={"body": f"Reply {seed}"}, files=self._files(seed, 1))
                if r.status_code != 201:
                    self.errors.append(f"reply {r.status_code}: {r.text[:200]}")
                with self.lock:
                    self.requests += 2
            except requests.RequestException as exc:
                self.errors.append(str(exc))


def test_backup_during_uploads_restores_byte_identical(live_server: Any, tmp_path: Path) -> None:
    site = live_server(workers=2)
    url = site["url"]
    token = requests.post(f"{url}/api/v1/auth/login", json={"username": site["admin"][0],
                                                           "password": site["admin"][1]}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.post(f"{url}/api/v1/departments", json={"name": "Load", "public": True}, headers=headers)
    assert r.status_code == 201, r.text
    load = Load(url, token, r.json()["id"])
    threads = [threading.Thread(target=load.worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while load.requests < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        archive = tmp_path / "live.tar"
        done = subprocess.run([str(Path(sys.executable).with_name("plugdesk")), "--config", str(site["config"]),
                               "backup", "create", "--to", str(archive), "--json"], capture_output=True, text=True,
                              env=os.environ.copy(), timeout=300)
        during = load.requests
        time.sleep(1.0)
    finally:
        load.stop.set()
        for t in threads:
            t.join(30)
    assert done.returncode == 0, done.stderr
    assert not load.errors, load.errors[:3]
    assert load.requests > during  # uploads went on while and after the backup ran

    target = tmp_path / "restored"
    r = cli("backup", "restore", str(archive), "--data-dir", str(target), "--json")
    assert r.exit_code == 0, r.output
    assert summary(r)["fsck_problems"] == []
    assert cli("storage", "fsck", config=target / "plugdesk.toml").exit_code == 0

    restored = Client(target / "plugdesk.toml", password=site["admin"][1])
    tickets = restored.tickets_all()
    assert tickets, "the backup holds no ticket"
    source = requests.Session()
    for ticket in tickets:
        original = source.get(f"{url}/api/v1/tickets/{ticket['id']}", headers=headers).json()
        assert [m["body"] for m in ticket["messages"]] == [m["body"] for m in original["messages"]][
            :len(ticket["messages"])]
    attachments = attachments_of(tickets)
    assert attachments
    for attachment_id, meta in attachments.items():
        content = restored.download(attachment_id)
        assert hashlib.sha256(content).hexdigest() == meta["sha256"]
        assert content == load.uploaded[meta["sha256"]]
