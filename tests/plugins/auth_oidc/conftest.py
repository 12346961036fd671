"""Fixtures for auth_oidc: the real provider (npm oidc-provider on Node.js) and apps that use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.oidc.flow import RpBrowser
from tests.oidc.servers import OidcServer, provider_table, start_oidc

RP = "http://rp.test"  # plugdesk's base URL in these in-process tests (the test client never resolves it)


@pytest.fixture(scope="session")
def oidc_server(workdir: Path) -> Iterator[OidcServer]:
    """The test provider, shared by the session (never restarted; see ``fresh_oidc_server``)."""
    try:
        server = start_oidc(workdir, [RP])
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"cannot start the OpenID Connect test provider: {exc}")
    yield server
    server.stop()


@pytest.fixture
def fresh_oidc_server(tmp_path: Path) -> Iterator[OidcServer]:
    """A provider of the test's own (for restarts: key rotation, provider down)."""
    server = start_oidc(tmp_path, [RP])
    yield server
    server.stop()


@pytest.fixture
def oidc_app(plugdesk_app_factory: Callable[..., Any], oidc_server: OidcServer) -> Callable[..., Any]:
    """``make(**provider_keys)``: an app with auth_local + auth_oidc whose provider ``testidp`` is the test IdP."""

    def make(server: OidcServer | None = None, *, extra_providers: list[dict[str, Any]] | None = None,
             **keys: Any) -> Any:
        table = provider_table(server or oidc_server, **keys)
        return plugdesk_app_factory(["auth_local", "auth_oidc"], overrides={
            "server": {"base_url": RP},
            "plugins": {"auth_oidc": {"providers": [table, *(extra_providers or [])]}}})

    return make


@pytest.fixture
def browser() -> Callable[[Any], RpBrowser]:
    """``browser(app)``: a fresh person's browser for ``app``."""
    return RpBrowser
