"""auth_oidc passes the redirect-login contract suite (core.testing.RedirectLoginContract) against the real
provider, and never takes part in the password chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.testing import RedirectLoginContract
from tests.oidc.flow import RpBrowser
from tests.oidc.servers import OidcServer, provider_table

pytestmark = pytest.mark.slow


class TestAuthOidcContract(RedirectLoginContract):
    """Everything plugdesk expects from a redirect-login plugin."""

    plugin_name = "auth_oidc"
    invalid_config = {"providers": [{"name": "Bad Name!", "issuer": "https://id.example.com", "client_id": "c",
                                     "client_secret": "s"}]}

    @pytest.fixture
    def app(self, plugdesk_app_factory: Callable[..., Any], oidc_server: OidcServer) -> Any:
        return plugdesk_app_factory(["auth_local", "auth_oidc"], overrides={
            "server": {"base_url": "http://rp.test"},
            "plugins": {"auth_oidc": {"providers": [provider_table(oidc_server)]}}})

    @pytest.fixture
    def sign_in(self, app: Any) -> Callable[[str], dict[str, str]]:
        return lambda url: RpBrowser(app).at_provider(url, "alice", "alice-idp-pw")
