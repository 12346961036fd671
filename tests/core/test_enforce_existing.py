"""'Enforce on existing passwords': non-compliant users must change their password right after logging in."""

from __future__ import annotations

import re

from core.testing import create_user

OLD = "plain old words"  # fine under the defaults, but has no number and no uppercase letter
NEW = "Better Passphrase 2026"


def csrf(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def tighten(app, enforce=True):
    app.extensions["plugdesk"].runtime.patch({"security.password.require_number": True,
                                              "security.password.require_upper": True,
                                              "security.password.enforce_on_existing": enforce}, actor="t")


def web_login(client, name, password):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf(page), "username": name, "password": password})


def test_rules_apply_to_new_passwords_only_when_not_enforced(plugdesk_app):
    create_user(plugdesk_app, username="uma", password=OLD)
    tighten(plugdesk_app, enforce=False)
    client = plugdesk_app.test_client()
    web_login(client, "uma", OLD)
    assert client.get("/").status_code == 200


def test_web_user_must_change_then_can_go_on(plugdesk_app):
    create_user(plugdesk_app, username="vic", password=OLD)
    tighten(plugdesk_app)
    client = plugdesk_app.test_client()
    assert web_login(client, "vic", OLD).status_code == 302
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/profile")
    page = client.get("/profile").get_data(as_text=True)
    assert "no longer meets" in page
    r = client.post("/profile", data={"csrf_token": csrf(page), "current_password": OLD,
                                      "new_password": "weak words here", "confirm": "weak words here"})
    assert r.status_code == 400 and "Include a number." in r.get_data(as_text=True)
    r = client.post("/profile", data={"csrf_token": csrf(page), "current_password": OLD, "new_password": NEW,
                                      "confirm": NEW})
    assert r.status_code == 302
    assert client.get("/").status_code == 200


def test_api_user_must_change_first(plugdesk_app):
    create_user(plugdesk_app, username="wes", password=OLD)
    tighten(plugdesk_app)
    client = plugdesk_app.test_client()
    r = client.post("/api/v1/auth/login", json={"username": "wes", "password": OLD})
    assert r.get_json()["user"]["must_change_password"] is True
    headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/settings/security", headers=headers).status_code == 403
    r = client.post("/api/v1/me/password", headers=headers, json={"current_password": OLD, "new_password": NEW})
    assert r.status_code == 204
    r = client.post("/api/v1/auth/login", json={"username": "wes", "password": NEW})
    assert r.get_json()["user"]["must_change_password"] is False
