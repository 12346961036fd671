"""auth_local passes the AuthProviderContract (the suite every auth plugin runs)."""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import TEST_PASSWORD, AuthProviderContract, create_user


class TestAuthLocalContract(AuthProviderContract):
    plugin_name = "auth_local"
    enabled = ()

    @pytest.fixture
    def account(self, app: Any) -> tuple[str, str]:
        create_user(app, username="carol", password=TEST_PASSWORD)
        return "carol", TEST_PASSWORD
