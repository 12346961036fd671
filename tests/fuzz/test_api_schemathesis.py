"""Schemathesis against ``/api/v1/openapi.json``, in-process (WSGI), every route, with an admin bearer token.

No answer may be a 5xx, and every answer must match its documented status code, content type and schema.
Bounded: a few examples per operation (the whole run stays well under two minutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.testing import make_test_app

pytestmark = pytest.mark.slow
ADMIN = ("fuzzadmin", "Fuzz admin passphrase 1")
EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An app with the default plugins on SQLite, an admin and one public department."""
    from core.app_state import state
    from core.auth.accounts import register

    path: Path = tmp_path_factory.mktemp("fuzz")
    app = make_test_app(path, ["auth_local", "captcha_builtin", "storage_fs", "moderation_newusers",
                               "retention_departments"])
    register(state(app), username=ADMIN[0], email="fuzz@example.test", password=ADMIN[1], role="admin",
             verified=True)
    yield app


@pytest.fixture(scope="module")
def token(fuzz_app: Any) -> str:
    """The admin's bearer token."""
    reply = fuzz_app.test_client().post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return str(reply.get_json()["token"])


def test_api_has_no_server_errors_and_matches_its_schema(fuzz_app: Any, token: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/api/v1/auth/logout", "/api/v1/me/sessions/end-all",
                              "/api/v1/me/sessions/{kind}/{row_id}"):  # would end the token every other call uses
            continue
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's first failure, then report them all
            failures[operation.label] = str(exc)[:1500]
    assert operations >= 20, "the OpenAPI document lists fewer operations than expected"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
