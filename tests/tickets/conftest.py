"""Fixtures for ticket tests: an app with tickets, retention and email notification, users, departments."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from core.auth.sessions import issue_token
from core.models import User
from core.testing import create_user
from core.tickets.departments import save_department

PLUGINS = ["auth_local", "storage_fs", "retention_departments", "notify_email"]


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


class Desk:
    """A test app plus helpers to make users, tokens and departments."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.state = app.extensions["plugdesk"]

    def user(self, role: str = "user") -> Any:
        return create_user(self.app, role)

    def token(self, info: Any) -> dict[str, str]:
        with self.state.db.session() as s:
            raw = issue_token(self.state.db, s.get(User, info.id))
        return {"Authorization": f"Bearer {raw}"}

    def department(self, name: str, agents: list[Any] = (), **fields: Any) -> int:
        with self.state.db.session() as s:
            d = save_department(s, None, {"name": name, **fields, "agent_ids": [a.id for a in agents]}, actor="test")
            return d.id

    def client(self, info: Any) -> Any:
        client = self.app.test_client()
        with client.session_transaction() as sess:
            sess["uid"], sess["sv"], sess["nonce"] = info.id, 1, "test"
        return client

    def api(self, who: Any) -> Any:
        """A test client whose requests carry ``who``'s bearer token."""
        headers = self.token(who)
        client = self.app.test_client()

        def call(method: str, path: str, **kw: Any) -> Any:
            return client.open(path, method=method, headers={**headers, **kw.pop("headers", {})}, **kw)

        return call


@pytest.fixture
def desk(plugdesk_app_factory: Callable[..., Flask]) -> Desk:
    """An app with auth_local, retention_departments and notify_email (mail to the outbox)."""
    return Desk(plugdesk_app_factory(PLUGINS))
