"""What the API fuzz tests share: an app with the embedded plugins on SQLite, an admin, and the admin's token."""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import make_test_app

ADMIN = ("fuzzadmin", "Fuzz admin passphrase 1")
PLUGINS = ["auth_local", "captcha_builtin", "storage_fs", "moderation_newusers", "retention_departments"]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh app for each test module: the default plugins on SQLite and an admin (:data:`ADMIN`)."""
    from core.app_state import state
    from core.auth.accounts import register

    app = make_test_app(tmp_path_factory.mktemp("fuzz"), PLUGINS)
    register(state(app), username=ADMIN[0], email="fuzz@example.test", password=ADMIN[1], role="admin",
             verified=True)
    return app


@pytest.fixture(scope="module")
def admin_token(fuzz_app: Any) -> str:
    """The admin's bearer token."""
    reply = fuzz_app.test_client().post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return str(reply.get_json()["token"])
