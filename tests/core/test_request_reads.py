"""What every logged-in page does before its own work, made cheap (issue 22) without changing what it means:
a session cookie verified once is not verified again (its age and the keys still are), the live user is a
detached ``User`` the ORM can update, and a request's precompiled reads share one pooled connection."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.auth import sessions
from core.auth.sessions import PlainSigner
from core.models import User
from core.testing import TEST_PASSWORD, create_user


def _login(app: Flask, role: str = "user") -> tuple[Any, Any]:
    user = create_user(app, role)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"csrf_token": token, "username": user.username, "password": TEST_PASSWORD},
                       follow_redirects=True)
    assert done.status_code == 200
    return client, user


def _logged_in(client: Any) -> bool:
    return client.get("/tickets").status_code == 200  # else a redirect to the login page


def _session_cookie(client: Any) -> str:
    cookie = client.get_cookie("plugdesk_session")
    assert cookie is not None
    return str(cookie.value)


def test_a_verified_cookie_is_not_verified_again(plugdesk_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _login(plugdesk_app)
    assert _logged_in(client)
    calls: list[str] = []
    real = PlainSigner.loads
    monkeypatch.setattr(PlainSigner, "loads", lambda self, value, **kw: calls.append(value) or real(self, value, **kw))
    for _ in range(3):
        assert _logged_in(client)
    assert calls == []  # the same cookie, verified on the first page: not checked again


def test_a_remembered_cookie_still_expires(plugdesk_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _login(plugdesk_app)
    assert _logged_in(client)
    lifetime = plugdesk_app.permanent_session_lifetime.total_seconds()
    later = time.time() + lifetime + 5
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    assert not _logged_in(client)


def test_a_tampered_cookie_is_refused_after_the_real_one_was_remembered(plugdesk_app: Flask) -> None:
    client, _ = _login(plugdesk_app)
    assert _logged_in(client)
    value = _session_cookie(client)
    forged = value[:-3] + ("aaa" if not value.endswith("aaa") else "bbb")
    client.set_cookie("plugdesk_session", forged)
    assert not _logged_in(client)


def test_a_remembered_cookie_is_refused_once_its_key_is_gone(plugdesk_app: Flask) -> None:
    client, _ = _login(plugdesk_app)
    assert _logged_in(client)
    value = _session_cookie(client)
    plugdesk_app.secret_key = "a new key after a leak, the old one not kept as a fallback"
    plugdesk_app.config["SECRET_KEY_FALLBACKS"] = []
    client.set_cookie("plugdesk_session", value)
    assert not _logged_in(client)


def test_remembered_content_is_never_shared_between_requests(plugdesk_app: Flask) -> None:
    app = plugdesk_app
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    value = serializer.dumps({"uid": 1, "_flashes": [["message", "Saved."]]})
    opened = []
    for _ in range(2):
        with app.test_request_context("/", headers={"Cookie": f"plugdesk_session={value}"}):
            opened.append(app.session_interface.open_session(app, request))
    opened[0]["_flashes"].append(["message", "Another."])  # what flash() does to the list
    assert opened[1]["_flashes"] == [["message", "Saved."]]
    with app.test_request_context("/", headers={"Cookie": f"plugdesk_session={value}"}):
        again = app.session_interface.open_session(app, request)
    assert again["_flashes"] == [["message", "Saved."]]


def test_the_live_user_is_detached_and_updates_in_place(plugdesk_app: Flask) -> None:
    from core.app_state import state
    from core.web.helpers import current_user

    client, info = _login(plugdesk_app)
    db = state(plugdesk_app).db
    cookie = f"plugdesk_session={_session_cookie(client)}"
    with plugdesk_app.test_request_context("/tickets", headers={"Cookie": cookie}):
        plugdesk_app.preprocess_request()
        user = current_user()
        assert user is not None and user.id == info.id and user.username == info.username
        assert user.created_at is not None and user.created_at.tzinfo is not None
        with db.session() as s:
            row = s.get(User, info.id)
            assert row is not None
            assert {c.key: getattr(user, c.key) for c in User.__table__.columns} == \
                   {c.key: getattr(row, c.key) for c in User.__table__.columns}
        user.display_name = "Renamed through the detached user"
        with db.session() as s:
            s.add(user)  # an UPDATE of the row, never an INSERT of a copy
    with db.session() as s:
        assert s.get(User, info.id).display_name == "Renamed through the detached user"  # type: ignore[union-attr]
        assert s.query(User).filter(User.username == info.username).count() == 1


def test_a_page_checks_out_one_connection_for_its_reads(plugdesk_app: Flask) -> None:
    from core.app_state import state

    client, _ = _login(plugdesk_app, "agent")
    engine = state(plugdesk_app).db.engine
    checkouts: list[int] = []
    sessions_begun: list[int] = []

    def checkout(*_a: Any) -> None:
        checkouts.append(1)

    def begun(*_a: Any) -> None:
        sessions_begun.append(1)

    event.listen(engine, "checkout", checkout)
    event.listen(Session, "after_begin", begun)
    try:
        for url in ("/tickets", "/manage/tickets"):
            checkouts.clear()
            sessions_begun.clear()
            assert client.get(url).status_code == 200
            assert len(checkouts) - len(sessions_begun) <= 1, url  # the user read and the page's share one
        assert engine.pool.checkedout() == 0  # returned when the request ended
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(Session, "after_begin", begun)


def test_a_signed_cookie_that_holds_no_dict_opens_an_empty_session(plugdesk_app: Flask) -> None:
    app = plugdesk_app
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    value = serializer.dumps(["uid", 1])  # signed with the app's key, but not a session's shape
    assert app.session_interface.verified(app, value) is None  # type: ignore[attr-defined]
    with app.test_request_context("/", headers={"Cookie": f"plugdesk_session={value}"}):
        assert dict(app.session_interface.open_session(app, request)) == {}
