"""Email verification and address changes, through a real SMTP listener (aiosmtpd)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.captcha import captcha_needed
from core.models import OneTimeToken, utcnow
from core.testing import TEST_PASSWORD


@pytest.fixture
def app(plugdesk_app_factory, smtp_sink):
    from core.plugins import loadable_defaults

    return plugdesk_app_factory(loadable_defaults(), overrides={
        "mail": {"url": f"smtp://{smtp_sink.host}:{smtp_sink.port}"},
        "server": {"base_url": "https://help.example.com"}})


def csrf(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def token_in(message):
    text = message["msg"].get_body(("plain",)).get_content()
    return re.search(r"https://help\.example\.com/verify-email/(\S+)", text).group(1)


def register(client, username="vera", email="vera@example.com"):
    page = client.get("/register").get_data(as_text=True)
    return client.post("/register", data={"csrf_token": csrf(page), "username": username, "email": email,
                                          "display_name": "", "password": TEST_PASSWORD, "confirm": TEST_PASSWORD})


def me(client):
    token = client.post("/api/v1/auth/login", json={"username": "vera", "password": TEST_PASSWORD}).get_json()["token"]
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()


def test_registration_sends_link_and_following_it_verifies(app, smtp_sink):
    client = app.test_client()
    assert register(client).status_code == 302
    assert "Please confirm your email address" in client.get("/").get_data(as_text=True)
    assert smtp_sink.delivered(app)[0]["to"] == ["vera@example.com"]
    state = app.extensions["plugdesk"]
    user = state.ctx.users.find("vera")
    state.runtime.patch({"security.captcha.enabled": True}, actor="t")
    assert captcha_needed(state, "community_thread", user)
    r = client.get(f"/verify-email/{token_in(smtp_sink.delivered(app)[0])}")
    assert r.status_code == 302
    assert "Please confirm your email address" not in client.get("/").get_data(as_text=True)
    assert me(app.test_client())["verified"] is True
    assert not captcha_needed(state, "community_thread", state.ctx.users.find("vera"))


def test_expired_reused_truncated_and_other_user_tokens(app, smtp_sink):
    client = app.test_client()
    register(client)
    token = token_in(smtp_sink.delivered(app)[0])
    other = app.test_client()
    register(other, "walt", "walt@example.com")
    assert other.get(f"/verify-email/{token}").status_code == 400  # logged in as someone else
    assert me(app.test_client())["verified"] is False
    assert client.get(f"/verify-email/{token[:-3]}").status_code == 400
    with app.extensions["plugdesk"].db.session() as s:
        s.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(f"/verify-email/{token}").status_code == 400
    page = client.get("/profile").get_data(as_text=True)
    client.post("/profile/verify/resend", data={"csrf_token": csrf(page)})
    fresh = token_in(smtp_sink.delivered(app)[-1])
    assert client.get(f"/verify-email/{fresh}").status_code == 302
    assert client.get(f"/verify-email/{fresh}").status_code == 400  # reused


def test_resend_is_rate_limited(app, smtp_sink):
    client = app.test_client()
    register(client)
    for _ in range(5):
        page = client.get("/profile").get_data(as_text=True)
        client.post("/profile/verify/resend", data={"csrf_token": csrf(page)})
    assert len(smtp_sink.delivered(app)) == 1 + 3


def change_email(client, new, password=TEST_PASSWORD):
    page = client.get("/profile").get_data(as_text=True)
    return client.post("/profile/email", data={"csrf_token": csrf(page), "new_email": new, "password": password},
                       follow_redirects=True)


def test_change_needs_password_and_takes_effect_when_confirmed(app, smtp_sink):
    client = app.test_client()
    register(client)
    client.get(f"/verify-email/{token_in(smtp_sink.delivered(app)[0])}")
    assert "current password is not correct" in change_email(client, "new@example.com", "wrong").get_data(as_text=True)
    r = change_email(client, "Vera+desk@bücher.example")
    assert "We sent a confirmation link" in r.get_data(as_text=True)
    assert me(app.test_client())["email"] == "vera@example.com"  # not yet
    link = smtp_sink.delivered(app)[-1]
    assert link["to"] == ["Vera+desk@xn--bcher-kva.example"] or link["msg"]["To"] == "Vera+desk@bücher.example"
    client.get(f"/verify-email/{token_in(link)}")
    data = me(app.test_client())
    assert data["email"] == "Vera+desk@bücher.example" and data["verified"] is True
    notice = smtp_sink.delivered(app)[-1]
    assert notice["to"] == ["vera@example.com"]
    assert "now Vera+desk@bücher.example" in notice["msg"].get_body(("plain",)).get_content()


def test_address_of_another_account_refused_without_naming_it(app, smtp_sink):
    register(app.test_client(), "walt", "walt@example.com")
    client = app.test_client()
    register(client)
    body = change_email(client, "WALT@example.com").get_data(as_text=True)
    assert "This address cannot be used" in body and "walt" not in body.lower().replace("walt@example.com", "")


def test_admin_marks_verified_and_filters(app, login_as):
    register(app.test_client())
    admin, _ = login_as(app, "admin")
    page = admin.get("/manage/users?verified=no").get_data(as_text=True)
    assert "vera" in page and "Mark verified" in page
    user = app.extensions["plugdesk"].ctx.users.find("vera")
    admin.post("/manage/users", data={"csrf_token": csrf(page), "user_id": user.id, "action": "verify"})
    assert "vera" not in admin.get("/manage/users?verified=no").get_data(as_text=True)
    assert "vera" in admin.get("/manage/users?verified=yes").get_data(as_text=True)


def test_require_verified_switch(app):
    from core.auth.verification import verified_email_required

    state = app.extensions["plugdesk"]
    register(app.test_client())
    user = state.ctx.users.find("vera")
    assert verified_email_required(state, user) is None
    state.runtime.patch({"security.require_verified_email": True}, actor="t")
    assert "confirm your email address" in verified_email_required(state, user)
    assert verified_email_required(state, None) is not None


def test_require_verified_blocks_tickets_and_community_until_confirmed(app, smtp_sink):
    from core.community.service import CommunityError, create_thread
    from core.models import User
    from core.tickets.service import TicketProblem, create_ticket

    state = app.extensions["plugdesk"]
    client = app.test_client()
    register(client)
    state.runtime.patch({"security.require_verified_email": True}, actor="t")
    with state.db.session() as s:
        user = s.query(User).filter_by(username_key="vera").one()
    with pytest.raises(TicketProblem) as exc:
        create_ticket(state, user=user, department_id=1, subject="Help", body="please")
    assert exc.value.status == 403 and "confirm your email address" in str(exc.value)
    with pytest.raises(CommunityError) as exc:
        create_thread(state, user, "Hello", "<p>first post</p>")
    assert exc.value.status == 403
    client.get(f"/verify-email/{token_in(smtp_sink.delivered(app)[0])}")
    with state.db.session() as s:
        user = s.query(User).filter_by(username_key="vera").one()
    assert create_thread(state, user, "Hello", "<p>first post</p>").id
