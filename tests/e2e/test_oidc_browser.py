"""Single sign-on in real Chromium: a real ``plugdesk serve`` with ``auth_oidc`` and the real OpenID provider
(npm ``oidc-provider``, tests/oidc/). Click "Sign in with Test IdP", log in at the provider, land in the portal
as that person with the mapped role; the second login opens the same account; an existing local account is
linked once its password is proven."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import plugdesk_cmd
from tests.oidc.servers import SECRET, OidcServer
from tests.realservers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def sso_site(live_server: Callable[..., dict[str, Any]], tmp_path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """A plugdesk server whose provider ``testidp`` is a test IdP started for its URL (port chosen first)."""
    port = free_port()
    toml = (
        "[plugins.auth_oidc]\n"
        "[[plugins.auth_oidc.providers]]\n"
        f'name = "testidp"\nlabel = "Test IdP"\nissuer = "http://127.0.0.1:{port}"\n'
        f'client_id = "plugdesk"\nclient_secret = "{SECRET}"\n'
        'scopes = ["openid", "email", "profile", "groups"]\nlink_existing = "password"\n'
        'role_map = { "helpdesk-agents" = "agent", "helpdesk-admins" = "admin" }\n'
    )
    site = live_server(extra_toml=toml, plugins=["auth_local", "auth_oidc"])
    try:
        server = OidcServer(port, [site["url"]], tmp_path).start()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"cannot start the OpenID Connect test provider: {exc}")
    yield site, server
    server.stop()


def _users(site: dict[str, Any]) -> list[dict[str, Any]]:
    out = subprocess.run(plugdesk_cmd("--config", str(site["config"]), "users", "list", "--json"), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def _sign_in(page: Any, site: dict[str, Any], username: str, password: str) -> None:
    """From plugdesk's login page through the provider's form and back."""
    page.goto(site["url"] + "/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.wait_for_url("**/interaction/**")
    assert "Test IdP sign-in" in page.title()
    page.fill("#idp-username", username)
    page.fill("#idp-password", password)
    page.get_by_role("button", name="Sign in at Test IdP").click()


def test_sso_login_in_chromium(page: Any, browser: Any, sso_site: tuple[dict[str, Any], OidcServer],
                               screenshot: Callable[[Any, str], Path]) -> None:
    site, idp = sso_site
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/login/sso/testidp/callback" in r.url else None)
    _sign_in(page, site, "alice", "alice-idp-pw")
    page.wait_for_url(site["url"] + "/")
    assert page.get_by_role("link", name="Alice Adams").count() >= 1  # the name claim
    page.goto(site["url"] + "/profile")
    body = page.inner_text("body")
    assert "alice@example.org" in body and "agent" in body  # role mapped from the group helpdesk-agents
    assert "managed by Test IdP" in body and page.locator("#new_password").count() == 0  # no local password
    assert screenshot(page, "profile").stat().st_size > 1000
    accounts = [u for u in _users(site) if u["provider"] == "testidp"]
    assert [(u["username"], u["role"], u["verified"]) for u in accounts] == [("alice", "agent", True)]

    replay = page.goto(callbacks[0])  # the provider's answer again: its state was used once
    assert replay is not None and replay.status == 400
    assert "This sign-in attempt has expired" in page.inner_text("h1")

    second = browser.new_context().new_page()  # another browser: a fresh session at plugdesk and at the IdP
    _sign_in(second, site, "alice", "alice-idp-pw")
    second.wait_for_url(site["url"] + "/")
    assert second.get_by_role("link", name="Alice Adams").count() >= 1
    assert [u["id"] for u in _users(site) if u["provider"] == "testidp"] == [accounts[0]["id"]]  # same account
    second.context.close()

    page.get_by_role("button", name="Log out").click()  # signs out at the provider too (RP-initiated logout)
    page.wait_for_url(f"{idp.issuer}/session/end**")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(site["url"] + "/")
    assert page.get_by_role("button", name="Log out").count() == 0
    page.goto(site["url"] + "/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.wait_for_url("**/interaction/**")  # the provider asks for the password again: its session ended

    log = Path(site["log"]).read_text(errors="replace")
    assert SECRET not in log and "alice-idp-pw" not in log and "Traceback" not in log


def test_existing_account_is_linked_in_chromium(page: Any, browser: Any,
                                                sso_site: tuple[dict[str, Any], OidcServer],
                                                screenshot: Callable[[Any, str], Path], tmp_path: Path) -> None:
    site, _idp = sso_site
    password = tmp_path / "dave.pw"
    password.write_text("Dave's local passphrase 1")
    subprocess.run(plugdesk_cmd("--config", str(site["config"]), "users", "create", "--username", "dave",
                                "--email", "dave@example.org", "--role", "manager", "--password-file",
                                str(password), "--verified"), check=True, capture_output=True)
    _sign_in(page, site, "dave", "dave-idp-pw")
    page.wait_for_url("**/login/sso/link")
    assert "Link your Test IdP sign-in" in page.inner_text("h1")
    assert screenshot(page, "link").stat().st_size > 1000
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Link and sign in").click()
    assert page.get_by_role("alert").count() == 1
    page.fill("#password", "Dave's local passphrase 1")
    page.get_by_role("button", name="Link and sign in").click()
    page.wait_for_url(site["url"] + "/")
    page.goto(site["url"] + "/profile")
    assert "manager" in page.inner_text("body")

    again = browser.new_context().new_page()  # the second SSO login goes straight to the linked account
    _sign_in(again, site, "dave", "dave-idp-pw")
    again.wait_for_url(site["url"] + "/")
    again.goto(site["url"] + "/profile")
    assert "dave@example.org" in again.inner_text("body")
    assert [u["username"] for u in _users(site) if u["email"] == "dave@example.org"] == ["dave"]
    again.context.close()
