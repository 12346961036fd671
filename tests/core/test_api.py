"""JSON API: login/register/me, problem+json, security settings PATCH (all or nothing), OpenAPI document."""

from __future__ import annotations

import pytest

from core.testing import TEST_PASSWORD, create_user


@pytest.fixture
def client(plugdesk_app):
    return plugdesk_app.test_client()


def token_for(app, role="user"):
    user = create_user(app, role)
    r = app.test_client().post("/api/v1/auth/login", json={"username": user.username, "password": TEST_PASSWORD})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}, user


def test_register_login_me(plugdesk_app, client):
    r = client.post("/api/v1/auth/register", json={"username": "Zoe", "email": "zoe@example.com",
                                                   "password": TEST_PASSWORD})
    assert r.status_code == 201 and r.get_json()["username"] == "Zoe"
    r = client.post("/api/v1/auth/login", json={"username": "zoe", "password": TEST_PASSWORD})
    token = r.get_json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["username"] == "Zoe" and me["verified"] is False and me["created_at"].endswith("Z")


def test_login_failures_share_one_body(plugdesk_app, client):
    create_user(plugdesk_app, username="yann")
    wrong = client.post("/api/v1/auth/login", json={"username": "yann", "password": "wrong-password"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.mimetype == "application/problem+json"


@pytest.mark.parametrize("body", [None, "[]", '{"username": 5, "password": "x"}', '{"username": "x"}'])
def test_malformed_bodies_get_problem_json(client, body):
    r = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert r.status_code in (400, 422)
    problem = r.get_json()
    assert r.mimetype == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(problem)


def test_register_validation_errors_per_field(client):
    r = client.post("/api/v1/auth/register", json={"username": "w", "email": "bad", "password": TEST_PASSWORD})
    assert r.status_code == 422 and "email" in r.get_json()["errors"]
    r = client.post("/api/v1/auth/register", json={"username": "w", "email": "w@example.com", "password": "w"})
    assert r.status_code == 422 and r.get_json()["errors"]["password"]


def test_bearer_token_required_and_invalidated_by_logout(plugdesk_app, client):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    headers, _ = token_for(plugdesk_app)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_security_settings_patch_is_all_or_nothing_and_audited(plugdesk_app, client):
    admin, _ = token_for(plugdesk_app, "admin")
    r = client.patch("/api/v1/settings/security", headers=admin,
                     json={"security.brute_force.max_failures": 5, "security.brute_force.window_seconds": 0})
    assert r.status_code == 422 and "security.brute_force.window_seconds" in r.get_json()["errors"]
    assert client.get("/api/v1/settings/security", headers=admin).get_json()["security.brute_force.max_failures"] == 10
    r = client.patch("/api/v1/settings/security", headers=admin, json={"security.nope": True})
    assert r.status_code == 422 and r.get_json()["errors"] == {"security.nope": "unknown setting"}
    r = client.patch("/api/v1/settings/security", headers=admin,
                     json={"security.brute_force.max_failures": 5, "security.ip_blacklist": ["10.0.0.0/8"]})
    assert r.status_code == 200 and r.get_json()["security.brute_force.max_failures"] == 5
    from sqlalchemy import select

    from core.models import AuditEntry

    with plugdesk_app.extensions["plugdesk"].db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "setting.change")).all()
    assert sorted((e.target, e.old, e.new) for e in entries) == [
        ("security.brute_force.max_failures", 10, 5), ("security.ip_blacklist", [], ["10.0.0.0/8"])]


@pytest.mark.parametrize("changes,key", [
    ({"security.brute_force.max_failures": "10"}, "security.brute_force.max_failures"),
    ({"security.brute_force.max_failures": -1}, "security.brute_force.max_failures"),
    ({"security.brute_force.max_failures": 2.5}, "security.brute_force.max_failures"),
    ({"security.brute_force.lockout_seconds": 86401}, "security.brute_force.lockout_seconds"),
    ({"security.password.min_length": 2000}, "security.password.min_length"),
    ({"security.embedding.origins": ["javascript:alert(1)"]}, "security.embedding.origins"),
    ({"security.embedding.origins": ["*."]}, "security.embedding.origins"),
    ({"security.embedding.origins": ["http://a b"]}, "security.embedding.origins"),
    ({"security.ip_blacklist": ["not-an-ip"]}, "security.ip_blacklist"),
    ({"security.ip_blacklist": ["fe80::1%eth0"]}, "security.ip_blacklist"),
    ({"security.uploads.user_extensions": ["pdf"]}, "security.uploads.user_extensions"),
    ({"security.force_https": "yes"}, "security.force_https"),
])
def test_bad_setting_values_refused(plugdesk_app, client, changes, key):
    admin, _ = token_for(plugdesk_app, "admin")
    r = client.patch("/api/v1/settings/security", headers=admin, json=changes)
    assert r.status_code == 422 and key in r.get_json()["errors"]


def test_settings_need_roles(plugdesk_app, client):
    user, _ = token_for(plugdesk_app, "user")
    manager, _ = token_for(plugdesk_app, "manager")
    assert client.get("/api/v1/settings/security", headers=user).status_code == 403
    assert client.get("/api/v1/settings/security", headers=manager).status_code == 200
    assert client.patch("/api/v1/settings/security", headers=manager, json={}).status_code == 403


def test_openapi_document_is_valid_and_covers_every_route(plugdesk_app, client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    import re

    for rule in plugdesk_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"


def test_healthz_503_when_database_is_gone(plugdesk_app_factory, tmp_path):
    import shutil

    (tmp_path / "db").mkdir()
    app = plugdesk_app_factory(overrides={"database": {"url": f"sqlite:///{tmp_path}/db/x.db"}})
    app.extensions["plugdesk"].db.dispose()
    shutil.rmtree(tmp_path / "db")
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["checks"]["database"].startswith("error")


def test_blacklisting_everyone_is_allowed_with_a_warning(plugdesk_app, client, login_as):
    admin, _ = token_for(plugdesk_app, "admin")
    r = client.patch("/api/v1/settings/security", headers=admin,
                     json={"security.ip_blacklist": ["0.0.0.0/0", "203.0.113.7", "203.0.113.7"]})
    assert r.status_code == 200 and r.get_json()["security.ip_blacklist"] == ["0.0.0.0/0", "203.0.113.7"]
    assert "blocks every IPv4 address" in r.headers["X-Plugdesk-Warning"]
    web, _ = login_as(plugdesk_app, "admin")
    import re

    page = web.get("/manage/settings/ip-blacklist").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = web.post("/manage/settings/ip-blacklist", data={"csrf_token": token, "security.ip_blacklist": "::/0"},
                 follow_redirects=True)
    assert "blocks every IPv6 address" in r.get_data(as_text=True)
    r = web.post("/manage/settings/ip-blacklist", data={"csrf_token": token,
                                                        "security.ip_blacklist": "10.0.0.1\nnot an address"})
    assert r.status_code == 400 and "line 2" in r.get_data(as_text=True)
