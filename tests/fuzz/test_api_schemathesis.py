"""Schemathesis against ``/api/v1/openapi.json``, in-process (WSGI), every route, with an admin bearer token.

No answer may be a 5xx, and every answer must match its documented status code, content type and schema.
Bounded: a few examples per operation (the whole run stays well under two minutes). The app, the admin and the
token come from ``conftest.py``.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.slow
EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_has_no_server_errors_and_matches_its_schema(fuzz_app: Any, admin_token: str) -> None:
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
            case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's first failure, then report them all
            failures[operation.label] = str(exc)[:1500]
    assert operations >= 20, "the OpenAPI document lists fewer operations than expected"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
