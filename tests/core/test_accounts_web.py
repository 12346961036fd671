"""Registration, login, logout and password change through the web forms (CSRF on), with bad input."""

from __future__ import annotations

import re

import pytest

from core.testing import TEST_PASSWORD, create_user


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def register(client, **fields):
    page = client.get("/register").get_data(as_text=True)
    data = {"csrf_token": csrf(page), "username": "alice", "email": "alice@example.com", "display_name": "",
            "password": TEST_PASSWORD, "confirm": TEST_PASSWORD, **fields}
    return client.post("/register", data=data)


def login(client, username, password):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf(page), "username": username, "password": password})


@pytest.fixture
def app(plugdesk_app):
    return plugdesk_app


def test_duplicate_username_in_another_case_or_unicode_form(app):
    assert register(app.test_client()).status_code == 302
    for other in ("ALICE", "Ａｌｉｃｅ", " alice "):
        r = register(app.test_client(), username=other, email="other@example.com")
        assert r.status_code == 400
        assert "This username is taken" in r.get_data(as_text=True)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com", "<script>@x.org", "x" * 330 + "@e.com"])
def test_invalid_email_is_refused(app, email):
    r = register(app.test_client(), email=email)
    assert r.status_code == 400 and "Enter a valid email address" in r.get_data(as_text=True)


def test_unicode_domain_and_plus_addressing_accepted(app):
    assert register(app.test_client(), username="u1", email="ann+help@bücher.example").status_code == 302


@pytest.mark.parametrize("password,message", [
    ("alice", "Do not use your username"),
    ("ALICE-is-me"[:5], "Do not use your username"),
    ("short", "at least 8 characters"),
    ("        ", "spaces alone"),
    ("password1", "most common"),
])
def test_password_rules_listed_next_to_the_field(app, password, message):
    r = register(app.test_client(), password=password, confirm=password)
    assert r.status_code == 400 and message in r.get_data(as_text=True)


def test_long_and_unicode_passwords_work_without_truncation(app):
    long_pw = "ä" + "x" * 999
    assert len(long_pw) == 1000
    assert register(app.test_client(), username="longpw", password=long_pw, confirm=long_pw).status_code == 302
    assert login(app.test_client(), "longpw", long_pw).status_code == 302
    assert login(app.test_client(), "longpw", long_pw[:-1]).status_code == 400  # no truncation
    uni = "пароль-密码-🔐-contraseña"
    assert register(app.test_client(), username="uni", email="uni@example.com", password=uni,
                    confirm=uni).status_code == 302
    assert login(app.test_client(), "UNI", uni).status_code == 302


def test_html_and_sql_are_stored_and_shown_escaped(app):
    client = app.test_client()
    name = "<script>alert(1)</script>' OR '1'='1"
    assert register(client, display_name=name).status_code == 302
    html = client.get("/profile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#39; OR &#39;1&#39;=&#39;1" in html
    r = register(app.test_client(), username="bob'; DROP TABLE users;--", email="b@example.com")
    assert r.status_code == 400 and "Use letters, digits" in r.get_data(as_text=True)
    assert login(app.test_client(), "alice", TEST_PASSWORD).status_code == 302  # table still there


def test_missing_or_wrong_csrf_token_gives_form_expired_page(app):
    client = app.test_client()
    r = client.post("/register", data={"username": "x", "email": "x@example.com", "password": TEST_PASSWORD,
                                       "confirm": TEST_PASSWORD})
    assert r.status_code == 400 and "This form has expired" in r.get_data(as_text=True)
    client.get("/login")
    r = client.post("/login", data={"csrf_token": "forged", "username": "x", "password": "y"})
    assert r.status_code == 400 and "This form has expired" in r.get_data(as_text=True)


def test_empty_credentials_refused_before_any_provider(app, hook_recorder):
    recorder = hook_recorder(app)
    create_user(app, username="carol")
    for username, password in (("", TEST_PASSWORD), ("carol", ""), ("carol", "   "), ("   ", TEST_PASSWORD)):
        r = login(app.test_client(), username, password)
        assert r.status_code == 400
    assert recorder.calls("auth_authenticate") == []


def test_wrong_password_and_unknown_user_look_the_same(app):
    create_user(app, username="dave")
    wrong = login(app.test_client(), "dave", "not-the-password")
    unknown = login(app.test_client(), "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    strip = lambda r: re.sub(r'value="[^"]+"', "", r.get_data(as_text=True))  # noqa: E731 - csrf differs
    assert strip(wrong) == strip(unknown)


def test_session_cookie_is_rotated_and_flags_set(app):
    client = app.test_client()
    create_user(app, username="erin")
    client.get("/login")
    before = client.get_cookie("plugdesk_session")
    r = login(client, "erin", TEST_PASSWORD)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get_cookie("plugdesk_session").value != (before.value if before else None)


def test_logout_and_password_change_end_other_sessions(app):
    create_user(app, username="frank")
    phone, laptop = app.test_client(), app.test_client()
    assert login(phone, "frank", TEST_PASSWORD).status_code == 302
    assert login(laptop, "frank", TEST_PASSWORD).status_code == 302
    page = phone.get("/profile").get_data(as_text=True)
    new = "a much better passphrase"
    r = phone.post("/profile", data={"csrf_token": csrf(page), "current_password": TEST_PASSWORD,
                                     "new_password": new, "confirm": new})
    assert r.status_code == 302
    assert phone.get("/profile").status_code == 200  # the changing session continues
    assert laptop.get("/profile").status_code == 302  # the other one is over
    assert login(laptop, "frank", new).status_code == 302
    page = laptop.get("/profile").get_data(as_text=True)
    laptop.post("/logout", data={"csrf_token": csrf(page)})
    assert phone.get("/profile").status_code == 302


def test_change_password_with_wrong_current_password(app):
    create_user(app, username="gina")
    client = app.test_client()
    login(client, "gina", TEST_PASSWORD)
    page = client.get("/profile").get_data(as_text=True)
    r = client.post("/profile", data={"csrf_token": csrf(page), "current_password": "nope-nope",
                                      "new_password": "another fine phrase", "confirm": "another fine phrase"})
    assert r.status_code == 400 and "current password is not correct" in r.get_data(as_text=True)


def test_disabled_user_cannot_log_in(app):
    from core.models import User

    user = create_user(app, username="hank")
    with app.extensions["plugdesk"].db.session() as s:
        s.get(User, user.id).is_active = False
    assert login(app.test_client(), "hank", TEST_PASSWORD).status_code == 400


def test_open_redirect_refused(app):
    create_user(app, username="ivy")
    client = app.test_client()
    page = client.get("/login?next=//evil.example").get_data(as_text=True)
    r = client.post("/login?next=//evil.example", data={"csrf_token": csrf(page), "username": "ivy",
                                                          "password": TEST_PASSWORD})
    assert r.headers["Location"] == "/"


def test_error_pages_are_friendly_and_never_show_traces(app):
    @app.get("/boom-test")
    def boom():
        raise RuntimeError("secret internals")

    client = app.test_client()
    r = client.get("/nowhere")
    assert r.status_code == 404 and "Page not found" in r.get_data(as_text=True)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = client.get("/boom-test")
    body = r.get_data(as_text=True)
    assert r.status_code == 500 and "Something went wrong" in body
    assert "secret internals" not in body and "Traceback" not in body


def test_management_needs_roles(app, login_as):
    client, _ = login_as(app, "user")
    assert client.get("/manage/").status_code == 403
    agent, _ = login_as(app, "agent")
    assert agent.get("/manage/").status_code == 200
    assert agent.get("/manage/settings").status_code == 403
    manager, _ = login_as(app, "manager")
    page = manager.get("/manage/settings").get_data(as_text=True)
    assert "Read-only" in page
    admin, _ = login_as(app, "admin")
    assert "Brute force protection" in admin.get("/manage/settings").get_data(as_text=True)
    assert "auth_local" in admin.get("/manage/plugins").get_data(as_text=True)


def test_oversized_request_gets_a_friendly_413_page(plugdesk_app_factory):
    app = plugdesk_app_factory(overrides={"server": {"max_request_mb": 1}})
    client = app.test_client()
    r = client.post("/login", data={"username": "x", "password": "y" * (2 * 1024 * 1024)})
    body = r.get_data(as_text=True)
    assert r.status_code == 413 and "larger than the limit of 1 MiB" in body and "Traceback" not in body


def test_anonymous_pages_start_no_session(plugdesk_app):
    for path in ("/", "/kb", "/rss/kb/newest"):
        r = plugdesk_app.test_client(use_cookies=False).get(path)
        assert r.status_code == 200 and "Set-Cookie" not in r.headers, path
