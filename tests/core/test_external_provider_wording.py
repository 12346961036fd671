"""Users of an external auth provider read its label ("Acme Control Panel"), never corporate-directory wording.

The fake provider is the login API of a hosting control panel, as a third party would write it: only ``core``
and ``core.testing`` imports. It also runs the whole ``AuthProviderContract``, so the checks for external
providers (no reset email, configuration refused by key) run in the fast test set.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from core import (
    AuthProviderInfo,
    AuthResult,
    ConfigModel,
    Identity,
    PluginContext,
    UserDirectory,
    hookimpl,
    parse_plugin_config,
)
from core.testing import AuthProviderContract

ACME = "Acme Control Panel"
PASSWORD = "panel password 1"
DIRECTORY_WORDING = re.compile(r"directory|organi[sz]ation", re.I)


class PanelOptions(ConfigModel):
    """``[plugins.acme]``: where the panel's API is, and (for tests) a switch that makes it unreachable."""

    url: str = "https://panel.example.com/api"
    unreachable: bool = False


class AcmePanel:
    """One panel account (``alice``); the panel owns its password."""

    @hookimpl
    def parse_config(self, raw: dict[str, Any]) -> PanelOptions:
        """Validate the table through the schema library."""
        return parse_plugin_config(PanelOptions, raw)

    @hookimpl
    def auth_providers(self) -> list[AuthProviderInfo]:
        """One external provider."""
        return [AuthProviderInfo(name="acme", label=ACME, external=True)]

    @hookimpl
    def auth_authenticate(self, username: str, password: str, ctx: PluginContext) -> AuthResult | None:
        """The panel's answer: unreachable, yes for alice, or not ours."""
        if ctx.plugin_config("acme").unreachable:
            return AuthResult.unavailable("connect to panel.example.com:443: connection refused")
        if username == "alice" and password == PASSWORD:
            return AuthResult.ok(Identity(provider="acme", username="alice", external_id="acme-1001",
                                          email="alice@customer.example", email_verified=True))
        return None


def make(factory: Any, *, unreachable: bool = False, local: bool = True) -> Any:
    """An app with the panel (after auth_local unless ``local`` is False)."""
    return factory((["auth_local"] if local else []) + ["acme"], extra={"acme": AcmePanel()},
                   overrides={"plugins": {"acme": {"unreachable": unreachable}}})


def csrf(html: str) -> str:
    """The form's CSRF token."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def web_login(client: Any, username: str, password: str) -> Any:
    """Log in through the portal's form."""
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf(page), "username": username, "password": password})


class TestAcmeContract(AuthProviderContract):
    """The fake provider keeps the auth contract, including the checks only external providers meet."""

    plugin_name = "acme"
    plugin = AcmePanel()
    invalid_config = {"url": 42, "unreachable": "yes"}

    @pytest.fixture
    def account(self, app: Any) -> tuple[str, str]:
        """The panel's account."""
        return "alice", PASSWORD

    @pytest.fixture
    def backend_down(self, plugdesk_app_factory: Any) -> Any:
        """The panel cannot be reached."""
        return make(plugdesk_app_factory, unreachable=True)


def test_an_unreachable_provider_is_named_by_its_label(plugdesk_app_factory):
    client = make(plugdesk_app_factory, unreachable=True).test_client()
    page = web_login(client, "alice", PASSWORD)
    text = page.get_data(as_text=True)
    assert page.status_code == 400 and f"{ACME} cannot be reached right now. Please try again later." in text
    assert not DIRECTORY_WORDING.search(text)


def test_profile_and_its_refusals_name_the_provider(plugdesk_app_factory):
    client = make(plugdesk_app_factory).test_client()
    assert web_login(client, "alice", PASSWORD).status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert f"Your password is managed by {ACME}. Change it there." in page
    assert f"Your address comes from {ACME}; change it there." in page
    moved = client.post("/profile/email", data={"csrf_token": csrf(page), "new_email": "alice@elsewhere.example",
                                                "password": PASSWORD}, follow_redirects=True)
    assert f"Your address comes from {ACME}; change it there." in moved.get_data(as_text=True)
    api = client.application.test_client()
    token = api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).get_json()["token"]
    refused = api.post("/api/v1/me/password", headers={"Authorization": f"Bearer {token}"},
                       json={"current_password": PASSWORD, "new_password": "a new local password 7"})
    assert refused.status_code == 422
    assert refused.get_json()["detail"] == f"This account's password is managed by {ACME}; change it there."
    for text in (page, moved.get_data(as_text=True), refused.get_data(as_text=True)):
        assert not DIRECTORY_WORDING.search(text)


def test_reset_page_and_admin_settings_name_the_provider(plugdesk_app_factory):
    app = make(plugdesk_app_factory, local=False)
    page = app.test_client().get("/password-reset")
    assert page.status_code == 404
    assert f"Passwords are managed by {ACME}; reset yours there." in page.get_data(as_text=True)
    admin = UserDirectory(app.extensions["plugdesk"].db).create(username="root", email="root@example.com",
                                                                 role="admin", provider="acme", external_id="acme-1")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["uid"], sess["sv"], sess["nonce"] = admin.id, 1, "t"
    settings = client.get("/manage/settings").get_data(as_text=True)
    assert f"Every enabled auth provider keeps its passwords elsewhere ({ACME})" in settings
