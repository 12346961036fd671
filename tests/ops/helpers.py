"""A plugdesk instance for the operations tests: ``plugdesk init``, then tickets with attachments via the API."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from core.cli import main

ADMIN_PASSWORD = "admin password for ops tests"


def cli(*args: str, config: Path | None = None) -> Any:
    """Run ``plugdesk [--config CONFIG] ARGS`` in-process; returns click's result."""
    argv = (["--config", str(config)] if config else []) + list(args)
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def init_site(directory: Path, extra_toml: str = "", database_url: str | None = None) -> Path:
    """``plugdesk init`` into ``directory`` (optionally on PostgreSQL); returns the config path."""
    pw = directory.parent / f"{directory.name}.pw"
    pw.write_text(ADMIN_PASSWORD)
    config = directory / "plugdesk.toml"
    if database_url or extra_toml:  # init reads a config only from its own template: write ours first
        directory.mkdir(parents=True, exist_ok=True)
    r = cli("init", "--data-dir", str(directory), "--admin-password-file", str(pw))
    assert r.exit_code == 0, r.output
    text = config.read_text()
    if database_url:
        text = text.replace('url = "sqlite:///plugdesk.db"', f'url = "{database_url}"')
    if extra_toml:
        text += "\n" + extra_toml
    config.write_text(text)
    if database_url:
        r = cli("db", "upgrade", config=config)
        assert r.exit_code == 0, r.output
        from core.app import create_app
        from core.app_state import state
        from core.auth.accounts import register

        register(state(create_app(config)), username="admin", email="admin@example.com", password=ADMIN_PASSWORD,
                 role="admin", verified=True)
    return config


def with_section(text: str, section: str, body: str) -> str:
    """Replace (or add) ``[section]`` in a TOML text."""
    pattern = re.compile(rf"(?ms)^\[{re.escape(section)}\]\n.*?(?=^\[|\Z)")
    block = f"[{section}]\n{body.strip()}\n\n"
    return pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block


@dataclass
class Client:
    """An API client on an in-process app (Flask test client) logged in as the admin."""

    config: Path
    password: str = ADMIN_PASSWORD
    app: Any = None
    client: Any = None
    token: str = ""
    uploaded: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content

    def __post_init__(self) -> None:
        from core.app import create_app

        self.app = create_app(self.config)
        self.client = self.app.test_client()
        r = self.client.post("/api/v1/auth/login", json={"username": "admin", "password": self.password})
        assert r.status_code == 200, r.get_json()
        self.token = r.get_json()["token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def department(self) -> int:
        r = self.client.get("/api/v1/departments", headers=self.headers)
        items = r.get_json()
        items = items.get("items", items) if isinstance(items, dict) else items
        if items:
            return int(items[0]["id"])
        r = self.client.post("/api/v1/departments", json={"name": "Support", "public": True}, headers=self.headers)
        assert r.status_code == 201, r.get_json()
        return int(r.get_json()["id"])

    def _files(self, files: list[tuple[str, bytes]]) -> list[tuple[io.BytesIO, str]]:
        for _name, content in files:
            self.uploaded[hashlib.sha256(content).hexdigest()] = content
        return [(io.BytesIO(content), name) for name, content in files]

    def ticket(self, subject: str, body: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        data = {"subject": subject, "body": body, "department_id": str(self.department()), "files": self._files(files)}
        r = self.client.post("/api/v1/tickets", data=data, headers=self.headers, content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def reply(self, ticket_id: int, body: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        r = self.client.post(f"/api/v1/tickets/{ticket_id}/messages", data={"body": body, "files": self._files(files)},
                             headers=self.headers, content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def tickets(self) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/tickets?limit=100", headers=self.headers)
        return [self.client.get(f"/api/v1/tickets/{t['id']}", headers=self.headers).get_json()
                for t in r.get_json()["items"]]

    def tickets_all(self) -> list[dict[str, Any]]:
        """Every ticket (paged through the list endpoint) with its messages."""
        found, offset = [], 0
        while True:
            page = self.client.get(f"/api/v1/tickets?limit=100&offset={offset}", headers=self.headers).get_json()
            found += [self.client.get(f"/api/v1/tickets/{t['id']}", headers=self.headers).get_json()
                      for t in page["items"]]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return found

    def download(self, attachment_id: int) -> bytes:
        r = self.client.get(f"/api/v1/attachments/{attachment_id}", headers=self.headers)
        assert r.status_code == 200, r.status_code
        return r.get_data()


def pdf(seed: int, size: int = 4096) -> bytes:
    """A small PDF-looking file with distinct content."""
    body = hashlib.sha256(str(seed).encode()).hexdigest().encode() * (size // 64 + 1)
    return b"%PDF-1.4\n" + body[:size]


def attachments_of(tickets: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Every attachment of these tickets by id."""
    return {a["id"]: a for t in tickets for m in t["messages"] for a in m.get("attachments", [])}


def summary(result: Any) -> dict[str, Any]:
    """The JSON summary a command printed (CliRunner's stdout is not a TTY: JSON)."""
    return json.loads(result.stdout)


def env_without(*names: str) -> dict[str, str]:
    """``os.environ`` without ``names``."""
    return {k: v for k, v in os.environ.items() if k not in names}
