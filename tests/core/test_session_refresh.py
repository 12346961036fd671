"""A permanent session's cookie is signed again once a minute of use, not on every page view (issue 22),
and every change to the session still sets it at once."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask

from core.auth import sessions
from core.testing import TEST_PASSWORD, create_user


def _login(app: Flask) -> Any:
    user = create_user(app, "user")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"csrf_token": token, "username": user.username, "password": TEST_PASSWORD})
    assert done.status_code in (302, 303)
    return client


def _sets_cookie(response: Any) -> bool:
    return any(v.startswith("plugdesk_session=") for v in response.headers.getlist("Set-Cookie"))


def test_unchanged_session_is_re_signed_after_a_minute(plugdesk_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _login(plugdesk_app)
    client.get("/tickets")  # the first page after login puts a CSRF token in the session: a change
    again = client.get("/tickets")
    assert again.status_code == 200 and not _sets_cookie(again)  # unchanged, signed seconds ago
    assert again.headers["Vary"] == "Cookie"  # still: a cache must not give this page to another reader
    later = time.time() + sessions.REFRESH_EVERY + 1
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    refreshed = client.get("/tickets")
    assert refreshed.status_code == 200 and _sets_cookie(refreshed)  # the expiry slides with use


def test_a_changed_session_always_sets_the_cookie(plugdesk_app: Flask) -> None:
    client = _login(plugdesk_app)
    with client.session_transaction() as s:
        s.pop("csrf_token", None)  # the next form page puts a new token in the session
    page = client.get("/profile")
    assert page.status_code == 200 and _sets_cookie(page)
    assert client.get("/profile").status_code == 200


def test_cookies_are_signed_without_zlib_and_old_compressed_ones_still_open(plugdesk_app: Flask) -> None:
    from flask.sessions import SecureCookieSessionInterface

    app = plugdesk_app
    signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data = {"csrf_token": "a" * 40, "note": "x" * 300}  # compressible: itsdangerous would zlib it
    assert not signer.dumps(data).startswith(".")
    old = SecureCookieSessionInterface().get_signing_serializer(app)
    compressed = old.dumps(data)  # type: ignore[union-attr]
    assert compressed.startswith(".")  # what cookies signed before this change look like
    assert signer.loads(compressed) == data
    client = app.test_client()
    client.set_cookie("plugdesk_session", compressed)
    with client.session_transaction() as s:
        assert s.get("note") == "x" * 300
    with pytest.raises(Exception):  # noqa: B017 - a tampered cookie is refused as before
        signer.loads(compressed[:-2] + "xx")


def test_a_sessions_signed_csrf_token_is_reused_for_a_minute_then_renewed(plugdesk_app: Flask,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from core.web import forms

    client = _login(plugdesk_app)
    token = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

    def current() -> str:
        return token.search(client.get("/tickets").get_data(as_text=True)).group(1)  # type: ignore[union-attr]

    first = current()
    soon = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: soon)  # signing now would give another timestamp
    assert current() == first  # signed once, reused
    later, wall = forms.time.monotonic() + forms.RESIGN_AFTER + 1, time.time() + forms.RESIGN_AFTER + 1
    monkeypatch.setattr(forms.time, "monotonic", lambda: later)
    monkeypatch.setattr(time, "time", lambda: wall)  # the token's timestamp moves on too
    renewed = current()
    assert renewed != first  # signed again, with a new timestamp
    assert client.post("/logout", data={"csrf_token": renewed}).status_code in (302, 303)  # and it is valid


def test_an_unchanged_session_adds_cookie_to_a_vary_header_already_there(plugdesk_app: Flask) -> None:
    from flask import session

    app = plugdesk_app

    @app.get("/_test/vary")
    def vary() -> Any:
        session.get("uid")  # read, not changed
        return "ok", 200, {"Vary": "Accept-Encoding"}

    client = _login(app)
    client.get("/tickets")
    answer = client.get("/_test/vary")
    assert answer.headers["Vary"] == "Accept-Encoding, Cookie" and not _sets_cookie(answer)
