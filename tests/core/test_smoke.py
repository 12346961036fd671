"""The app builds, serves the main pages and registers/logs in through the web forms."""

from __future__ import annotations

import re

from core.testing import TEST_PASSWORD


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_register_login_logout(plugdesk_app):
    client = plugdesk_app.test_client()
    page = client.get("/register").get_data(as_text=True)
    r = client.post("/register", data={"csrf_token": csrf(page), "username": "Alice", "email": "alice@example.com",
                                       "display_name": "", "password": TEST_PASSWORD, "confirm": TEST_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert "Alice" in client.get("/").get_data(as_text=True)
    home = client.get("/profile").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf(home)})
    assert client.get("/profile").status_code == 302
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"csrf_token": csrf(page), "username": "ALICE", "password": TEST_PASSWORD})
    assert r.status_code == 302
