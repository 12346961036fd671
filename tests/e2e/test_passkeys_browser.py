"""Passkeys in real headless Chromium with its virtual authenticator (DevTools ``WebAuthn`` domain through
Playwright's CDP session): enrol a key, log out, log in with password + passkey, add a second named key,
remove one.

WebAuthn needs a domain as relying party (an IP address is refused by the browser), so this test serves
the app on ``http://localhost:<port>`` (a secure context) with ``server.base_url`` set to that origin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from core.testing import TEST_PASSWORD, create_user, make_test_app
from tests.realservers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                 "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}


@pytest.fixture
def localhost_site(tmp_path) -> Iterator[dict[str, Any]]:
    """The app served by a threaded Werkzeug server on localhost (base_url = that origin)."""
    port = int(free_port())
    url = f"http://localhost:{port}"
    app = make_test_app(tmp_path / "site", ["auth_local"], overrides={"server": {"base_url": url}})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": url, "app": app}
    server.shutdown()
    thread.join(5)


def authenticator(cdp: Any) -> str:
    return cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]


def password_login(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def add_key(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/profile/security")
    page.get_by_label("Name of the new key").fill(name)
    page.locator("#passkey-password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Add a passkey").click()


def test_enrol_a_passkey_log_out_and_log_in_with_it(localhost_site, page, screenshot):
    url, app = localhost_site["url"], localhost_site["app"]
    create_user(app, username="penny")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    first = authenticator(cdp)

    password_login(page, url, "penny")
    add_key(page, url, "Laptop key")
    page.locator("#new-codes").wait_for(state="visible")
    assert page.locator("#new-codes-list li").count() == 10  # the first factor brings ten recovery codes
    page.get_by_role("link", name="Done").click()
    expect(page.get_by_role("cell", name="Laptop key", exact=True)).to_be_visible()
    screenshot(page, "enrolled")
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": first})["credentials"]) == 1

    page.get_by_role("button", name="Log out").click()
    password_login(page, url, "penny")
    page.wait_for_url(f"{url}/login/two-factor")
    expect(page.get_by_role("heading", name="Two-factor login")).to_be_visible()
    screenshot(page, "second-step")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{url}/")
    page.goto(f"{url}/profile/security")
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()  # logged in
    sign_count = cdp.send("WebAuthn.getCredentials", {"authenticatorId": first})["credentials"][0]["signCount"]
    assert sign_count >= 2  # registration + login

    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first})  # a second device
    authenticator(cdp)
    add_key(page, url, "Backup key")
    page.get_by_role("cell", name="Backup key", exact=True).wait_for()  # the page reloads once it is stored
    expect(page.get_by_role("cell", name="Laptop key", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Backup key", exact=True)).to_be_visible()
    screenshot(page, "two-keys")
    page.get_by_label("Current password to remove Laptop key").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Remove Laptop key").click()
    expect(page.get_by_text("The passkey was removed from your account.")).to_be_visible()
    assert page.get_by_role("cell", name="Laptop key", exact=True).count() == 0

    page.get_by_role("button", name="Log out").click()
    password_login(page, url, "penny")
    page.wait_for_url(f"{url}/login/two-factor")
    page.get_by_role("button", name="Use a passkey").click()  # the backup key, on the second authenticator
    page.wait_for_url(f"{url}/")
