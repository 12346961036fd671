"""Two-factor login: TOTP codes computed here from the enrolled secret (pyotp), recovery codes, the lockout,
the enrolment policy, the admin reset, and the Sessions page."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import func, select

from core.app_state import state
from core.auth.sessions import issue_token
from core.models import AuditEntry, User
from core.outbox.models import OutboxMessage
from core.testing import TEST_PASSWORD, create_user
from core.twofactor import totp as totp_mod

SECOND_FACTOR = "urn:plugdesk:problem:second-factor-required"


def csrf(html: str, name: str = "csrf_token") -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html).group(1)


def bearer(app, user) -> dict[str, str]:
    st = state(app)
    with st.db.session() as s:
        return {"Authorization": f"Bearer {issue_token(st.db, s.get(User, user.id))}"}


def api_login(app, username, password=TEST_PASSWORD, **extra):
    return app.test_client().post("/api/v1/auth/login", json={"username": username, "password": password, **extra})


def code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(totp_mod.now() + 30 * offset_steps)


class Clock:
    """Moves the TOTP clock (``core.twofactor.totp.now``) so a test can use many time steps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.t = time.time()
        monkeypatch.setattr(totp_mod, "now", lambda: self.t)

    def step(self, n: int = 1) -> None:
        self.t += 30 * n


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def enrol_api(app, user) -> tuple[str, list[str]]:
    """Enrol an authenticator app through the API; return the secret and the recovery codes."""
    headers = bearer(app, user)
    client = app.test_client()
    r = client.post("/api/v1/me/two-factor/totp", json={"password": TEST_PASSWORD}, headers=headers)
    assert r.status_code == 201, r.get_json()
    secret = r.get_json()["secret"]
    assert r.get_json()["uri"].startswith("otpauth://totp/")
    r = client.post("/api/v1/me/two-factor/totp/confirm", json={"code": code(secret)}, headers=headers)
    assert r.status_code == 200, r.get_json()
    return secret, r.get_json()["recovery_codes"]


def test_api_login_needs_a_fresh_code_once_enrolled(plugdesk_app, clock):
    user = create_user(plugdesk_app, username="tina")
    secret, codes = enrol_api(plugdesk_app, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    r = api_login(plugdesk_app, "tina")
    assert r.status_code == 401 and r.get_json()["type"] == SECOND_FACTOR
    assert r.get_json()["second_factor"] == ["totp", "recovery_code"] and "token" not in r.get_json()
    clock.step()
    now_code = code(secret)
    r = api_login(plugdesk_app, "tina", totp=now_code)
    assert r.status_code == 200 and r.get_json()["token"]
    assert api_login(plugdesk_app, "tina", totp=now_code).status_code == 401  # a used code is refused
    clock.step(5)
    assert api_login(plugdesk_app, "tina", totp=code(secret, -1)).status_code == 200  # one step of drift: ok
    assert api_login(plugdesk_app, "tina", totp=code(secret, +1)).status_code == 200
    assert api_login(plugdesk_app, "tina", totp=code(secret, +2)).status_code == 401  # two steps: no
    assert api_login(plugdesk_app, "tina", totp=code(secret, -2)).status_code == 401
    assert api_login(plugdesk_app, "tina", password="wrong password!", totp=code(secret)).status_code == 401


def test_recovery_codes_work_once_each_and_are_stored_hashed(plugdesk_app, clock):
    from core.twofactor.models import RecoveryCode

    user = create_user(plugdesk_app, username="rosa")
    _secret, codes = enrol_api(plugdesk_app, user)
    r = api_login(plugdesk_app, "rosa", recovery_code=codes[0].upper().replace("-", " "))
    assert r.status_code == 200
    assert api_login(plugdesk_app, "rosa", recovery_code=codes[0]).status_code == 401
    assert api_login(plugdesk_app, "rosa", totp=codes[1]).status_code == 200  # the totp field takes one too
    st = state(plugdesk_app)
    with st.db.session() as s:
        hashes = list(s.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
        used = s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "auth.recovery_code_used"))
        notices = s.scalars(select(OutboxMessage.subject).where(OutboxMessage.to_addr == "rosa@example.com")).all()
    assert len(hashes) == 10 and not any(c.replace("-", "") in h for c in codes for h in hashes)
    assert used == 2 and notices.count("A recovery code was used") == 2
    status = plugdesk_app.test_client().get("/api/v1/me/two-factor", headers=bearer(plugdesk_app, user)).get_json()
    assert status["recovery_codes_left"] == 8 and status["totp"] and status["enrolled"]


def test_wrong_codes_lock_the_account_like_wrong_passwords(plugdesk_app, clock):
    user = create_user(plugdesk_app, username="lars")
    secret, _codes = enrol_api(plugdesk_app, user)
    state(plugdesk_app).runtime.patch({"security.brute_force.max_failures": 3}, actor="t")
    clock.step()
    assert api_login(plugdesk_app, "lars", totp="000000").status_code == 401
    assert api_login(plugdesk_app, "lars", totp="111111").status_code == 401
    # the right password alone does not reset the count while the second factor is pending
    assert api_login(plugdesk_app, "lars").get_json()["type"] == SECOND_FACTOR
    assert api_login(plugdesk_app, "lars", totp="222222").status_code == 401  # third failure: locked
    r = api_login(plugdesk_app, "lars", totp=code(secret))
    assert r.status_code == 401 and r.get_json()["title"] == "Login failed"  # locked: even the right pair
    with state(plugdesk_app).db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.lockout")) == 1


def test_web_login_asks_for_the_second_factor_before_any_session(plugdesk_app, clock):
    user = create_user(plugdesk_app, username="wes")
    client = plugdesk_app.test_client()
    with client.session_transaction() as sess:
        sess["uid"], sess["sv"], sess["nonce"] = user.id, 1, "t"
    page = client.get("/profile/security").get_data(as_text=True)
    assert "Two-factor login: <strong>off" in page
    r = client.post("/profile/security/totp/start", data={"totp-csrf_token": csrf(page, "totp-csrf_token"),
                                                          "totp-password": TEST_PASSWORD})
    assert r.status_code == 302
    page = client.get("/profile/security").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page  # the QR code is an inline image, no script
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    r = client.post("/profile/security/totp/confirm", data={"csrf_token": csrf(page), "code": code(secret)})
    assert r.status_code == 200 and "Your recovery codes" in r.get_data(as_text=True)
    assert len(re.findall(r"<li><code>[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}</code></li>",
                          r.get_data(as_text=True))) == 10
    fresh = plugdesk_app.test_client()
    login_page = fresh.get("/login").get_data(as_text=True)
    r = fresh.post("/login?next=/profile", data={"csrf_token": csrf(login_page), "username": "wes",
                                                 "password": TEST_PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/login/two-factor"
    assert fresh.get("/profile").status_code == 302  # not logged in yet
    step = fresh.get("/login/two-factor").get_data(as_text=True)
    assert "authenticator app" in step
    r = fresh.post("/login/two-factor", data={"csrf_token": csrf(step), "code": "123 456"})
    assert r.status_code == 400 and "The code is not correct" in r.get_data(as_text=True)
    clock.step()
    r = fresh.post("/login/two-factor", data={"csrf_token": csrf(step), "code": code(secret)})
    assert r.status_code == 302 and r.headers["Location"] == "/profile"
    assert fresh.get("/profile").status_code == 200


def test_pending_second_step_expires(plugdesk_app, clock, monkeypatch):
    from core.twofactor import web

    user = create_user(plugdesk_app, username="exp")
    enrol_api(plugdesk_app, user)
    client = plugdesk_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": csrf(page), "username": "exp", "password": TEST_PASSWORD})
    monkeypatch.setattr(web, "PENDING_SECONDS", -1)
    r = client.get("/login/two-factor")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_changes_need_the_current_password(plugdesk_app):
    user = create_user(plugdesk_app, username="cpw")
    headers = bearer(plugdesk_app, user)
    r = plugdesk_app.test_client().post("/api/v1/me/two-factor/totp", json={"password": "not it"}, headers=headers)
    assert r.status_code == 403
    r = plugdesk_app.test_client().post("/api/v1/me/two-factor/recovery-codes", json={"password": TEST_PASSWORD},
                                        headers=headers)
    assert r.status_code == 409  # nothing to recover yet


def test_admin_reset_is_audited_emailed_and_logs_the_user_out(plugdesk_app, login_as, clock):
    user = create_user(plugdesk_app, username="lost")
    enrol_api(plugdesk_app, user)
    assert api_login(plugdesk_app, "lost").status_code == 401  # a second factor is needed
    user_headers = bearer(plugdesk_app, user)
    admin_client, admin = login_as(plugdesk_app, "admin")
    users_page = admin_client.get("/manage/users").get_data(as_text=True)
    assert f'action="/manage/users/{user.id}/two-factor/reset"' in users_page
    r = admin_client.post(f"/manage/users/{user.id}/two-factor/reset", data={"csrf_token": csrf(users_page)})
    assert r.status_code == 302
    assert plugdesk_app.test_client().get("/api/v1/me", headers=user_headers).status_code == 401  # logged out
    assert api_login(plugdesk_app, "lost").status_code == 200  # password alone again
    st = state(plugdesk_app)
    with st.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "user.twofactor_reset"))
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.to_addr == "lost@example.com",
                                                    OutboxMessage.subject == "Your two-factor login was reset"))
    assert entry.actor == admin.username and entry.target == "lost" and entry.old["totp"] is True
    assert mail is not None and admin.username in mail.text_body
    admin_token = bearer(plugdesk_app, admin)
    r = plugdesk_app.test_client().post(f"/api/v1/users/{admin.id}/two-factor/reset", headers=admin_token)
    assert r.status_code == 409  # not your own
    r = plugdesk_app.test_client().post(f"/api/v1/users/{user.id}/two-factor/reset", headers=user_headers)
    assert r.status_code == 401


def test_policy_grace_then_enrolment_only(plugdesk_app, clock):
    st = state(plugdesk_app)
    agent = create_user(plugdesk_app, "agent", username="agnes")
    customer = create_user(plugdesk_app, "user", username="cust")
    st.runtime.patch({"security.twofactor.required_for": "agents", "security.twofactor.grace_days": 7}, actor="t")
    client = plugdesk_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": csrf(page), "username": "agnes", "password": TEST_PASSWORD})
    r = client.get("/manage/")
    assert r.status_code == 200  # in the grace period: a reminder only
    assert api_login(plugdesk_app, "agnes").status_code == 200
    st.runtime.patch({"security.twofactor.grace_days": 0}, actor="t")
    r = client.get("/manage/")
    assert r.status_code == 302 and r.headers["Location"] == "/profile/security"
    assert client.get("/profile/security").status_code == 200
    r = api_login(plugdesk_app, "agnes")
    assert r.status_code == 403 and r.get_json()["type"] == "urn:plugdesk:problem:two-factor-enrolment-required"
    assert api_login(plugdesk_app, "cust").status_code == 200  # customers are not covered
    assert customer.role == "user"
    secret, _codes = enrol_api(plugdesk_app, agent)
    clock.step()
    assert api_login(plugdesk_app, "agnes", totp=code(secret)).status_code == 200
    assert client.get("/manage/").status_code == 200
    r = plugdesk_app.test_client().post("/api/v1/me/two-factor/totp/disable", json={"password": TEST_PASSWORD},
                                        headers=bearer(plugdesk_app, agent))
    assert r.status_code == 409  # the last factor of a covered role stays


def test_sessions_page_lists_and_ends_sessions_and_tokens(plugdesk_app):
    user = create_user(plugdesk_app, username="sam")
    laptop, phone = plugdesk_app.test_client(), plugdesk_app.test_client()
    for client, agent in ((laptop, "Laptop Browser/1.0"), (phone, "Phone Browser/2.0")):
        page = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"csrf_token": csrf(page), "username": "sam", "password": TEST_PASSWORD},
                    headers={"User-Agent": agent})
    token = api_login(plugdesk_app, "sam").get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = plugdesk_app.test_client().get("/api/v1/me/sessions", headers=headers).get_json()
    kinds = sorted(item["kind"] for item in listed["items"])
    assert kinds == ["token", "web", "web"] and listed["total"] == 3
    web = {i["user_agent"]: i for i in listed["items"] if i["kind"] == "web"}
    assert web["Phone Browser/2.0"]["ip"] == "127.0.0.1" and web["Phone Browser/2.0"]["created_at"].endswith("Z")
    page = laptop.get("/profile/sessions").get_data(as_text=True)
    assert "Phone Browser/2.0" in page and "this browser" in page
    r = laptop.post("/profile/sessions/end", data={"csrf_token": csrf(page), "kind": "web",
                                                   "id": web["Phone Browser/2.0"]["id"]})
    assert r.status_code == 302
    assert phone.get("/profile").status_code == 302  # that session ended on every node (database row)
    assert laptop.get("/profile").status_code == 200
    token_id = next(i["id"] for i in listed["items"] if i["kind"] == "token")
    r = laptop.post("/profile/sessions/end", data={"csrf_token": csrf(page), "kind": "token", "id": token_id})
    assert r.status_code == 302
    assert plugdesk_app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    other = create_user(plugdesk_app, username="other")
    other_token = bearer(plugdesk_app, other)
    r = plugdesk_app.test_client().delete(f"/api/v1/me/sessions/web/{web['Laptop Browser/1.0']['id']}",
                                          headers=other_token)
    assert r.status_code == 404  # not someone else's
    r = laptop.post("/profile/sessions/end-all", data={"csrf_token": csrf(page)})
    assert r.status_code == 302 and laptop.get("/profile").status_code == 200  # this browser goes on
    assert len(plugdesk_app.test_client().get("/api/v1/me/sessions", headers=bearer(plugdesk_app, user))
               .get_json()["items"]) == 2  # the fresh web session + the token just issued to look


def test_openapi_documents_the_two_factor_and_session_routes(plugdesk_app):
    doc = plugdesk_app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/me/two-factor", "/api/v1/me/two-factor/totp", "/api/v1/me/two-factor/totp/confirm",
                 "/api/v1/me/two-factor/recovery-codes", "/api/v1/me/two-factor/passkeys/{key_id}",
                 "/api/v1/me/sessions", "/api/v1/users/{user_id}/two-factor/reset"):
        assert path in doc["paths"], path
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    schema = login["requestBody"]["content"]["application/json"]["schema"]
    assert "totp" in schema["properties"]
