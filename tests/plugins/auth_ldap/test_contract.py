"""auth_ldap (against the real test slapd) passes the AuthProviderContract, including an unreachable directory."""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import AuthProviderContract

pytestmark = pytest.mark.slow


class TestLdapContract(AuthProviderContract):
    plugin_name = "auth_ldap"

    @pytest.fixture
    def app(self, make_app: Any, ldap_provider: Any) -> Any:
        return make_app(ldap_provider())

    @pytest.fixture
    def account(self, app: Any) -> tuple[str, str]:
        return "alice", "Alice#Pw1"

    @pytest.fixture
    def backend_down(self, make_app: Any, ldap_provider: Any, closed_port: int) -> Any:
        return make_app(ldap_provider(urls=[f"ldaps://127.0.0.1:{closed_port}"], connect_timeout=1))
