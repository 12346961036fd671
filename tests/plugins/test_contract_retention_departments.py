"""retention_departments passes the RetentionContract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from core.testing import RetentionContract
from tests.plugins.test_retention_departments import seed
from tests.tickets.conftest import Desk

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


class TestRetentionDepartmentsContract(RetentionContract):
    plugin_name = "retention_departments"
    enabled = ("auth_local", "storage_fs")
    invalid_config = {"batch_size": "many"}

    @pytest.fixture
    def populate(self, app: Any) -> Callable[[], datetime]:
        def fill() -> datetime:
            desk = Desk(app)
            support = desk.department("Support", auto_close_days=10, lock_after_days=5, delete_after_days=30)
            desk.department("Sales")  # no switch on: never touched
            seed(desk, support, 3, status="waiting", agent_days_ago=11)
            seed(desk, support, 2, status="waiting", agent_days_ago=2)
            seed(desk, support, 2, status="closed", closed_days_ago=6)
            seed(desk, support, 2, status="closed", closed_days_ago=31, locked=True)
            return NOW

        return fill
