"""Core's side of redirect logins with small in-code plugins (no provider): startup checks of
``auth_redirect_providers``, and plugins that misbehave in ``auth_redirect_begin``, ``auth_redirect_complete``
and ``auth_redirect_logout`` give readable pages, never a traceback."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core import AuthProviderInfo, AuthResult, Identity, RedirectProviderInfo, RedirectStart, hookimpl
from core.testing import StartupError
from tests.oidc.flow import leave_url


class FakeSso:
    """A redirect provider whose "provider" is the test itself."""

    def __init__(self, external: bool = True, link: str = "never", declare: bool = True) -> None:
        self.external, self.link, self.declare = external, link, declare
        self.begin_result: Any = None
        self.complete_result: Any = None
        self.logout_result: Any = "https://idp.test/logout"

    @hookimpl
    def auth_providers(self) -> list[AuthProviderInfo]:
        return [AuthProviderInfo("fake", "Fake ID", external=self.external)] if self.declare else []

    @hookimpl
    def auth_redirect_providers(self) -> list[RedirectProviderInfo]:
        return [RedirectProviderInfo("fake", "Fake ID", link_existing=self.link)]

    @hookimpl
    def auth_redirect_begin(self, provider: str, redirect_uri: str, state: str) -> RedirectStart:
        if self.begin_result is not None:
            return self.begin_result(state) if callable(self.begin_result) else self.begin_result
        return RedirectStart(f"https://idp.test/auth?state={state}&redirect_uri={redirect_uri}", {"n": "1"})

    @hookimpl
    def auth_redirect_complete(self, params: Any, kept: Any) -> AuthResult:
        result = self.complete_result
        if isinstance(result, Exception):
            raise result
        return result or AuthResult.ok(Identity("fake", "frank", external_id="sub-1", email="frank@example.org"))

    @hookimpl
    def auth_redirect_logout(self, provider: str, user: Any, post_logout_redirect_uri: str) -> Any:
        if isinstance(self.logout_result, Exception):
            raise self.logout_result
        return self.logout_result


def _app(factory: Any, plugin: FakeSso) -> Any:
    return factory(["auth_local", "fake_sso"], extra={"fake_sso": plugin},
                   overrides={"server": {"base_url": "https://help.example.com"}})


def _begin(client: Any) -> Any:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return client.post("/login/sso/fake", data={"csrf_token": token})


@pytest.mark.parametrize("plugin, message", [
    (FakeSso(declare=False), "must also be returned by the plugin's auth_providers"),
    (FakeSso(external=False), "external=True"),
    (FakeSso(link="always"), "link_existing must be 'password' or 'never'"),
])
def test_startup_refuses_unusable_redirect_providers(plugdesk_app_factory, plugin, message) -> None:
    with pytest.raises(StartupError, match=re.escape(message)):
        _app(plugdesk_app_factory, plugin)


def test_round_trip_with_core_state(plugdesk_app_factory) -> None:
    plugin = FakeSso()
    client = _app(plugdesk_app_factory, plugin).test_client()
    start = _begin(client)
    assert start.status_code == 200 and 'id="sso-continue"' in start.get_data(as_text=True)
    query = parse_qs(urlsplit(leave_url(start)).query)
    assert query["redirect_uri"] == ["https://help.example.com/login/sso/fake/callback"]
    done = client.get(f"/login/sso/fake/callback?state={query['state'][0]}&code=c")
    assert done.status_code == 302
    with client.session_transaction() as session:
        assert session["uid"] and session["sso"] == "fake"
    out = client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                                                               client.get("/").get_data(as_text=True)).group(1)})
    assert leave_url(out) == "https://idp.test/logout" and "Signing you out" in out.get_data(as_text=True)


@pytest.mark.parametrize("begin, status, phrase", [
    (RedirectStart("https://idp.test/auth?no-state"), 502, "did not work"),
    (lambda state: RedirectStart("javascript:alert(1)//" + state), 502, "did not work"),
    (lambda state: RedirectStart(f"https://idp.test/?state={state}\r\nSet-Cookie: a=b"), 502, "did not work"),
    (lambda state: RedirectStart("https://idp.test/?state=" + state, {"big": "x" * 5000}), 502, "did not work"),
    (lambda state: (_ for _ in ()).throw(ConnectionError("idp down")), 503, "Fake ID cannot be reached"),
])
def test_a_bad_begin_is_a_readable_page(plugdesk_app_factory, begin, status, phrase, caplog) -> None:
    plugin = FakeSso()
    plugin.begin_result = begin
    response = _begin(_app(plugdesk_app_factory, plugin).test_client())
    assert response.status_code == status and phrase in response.get_data(as_text=True)
    assert "fake" in caplog.text


@pytest.mark.parametrize("result, status, phrase", [
    (RuntimeError("boom"), 502, "did not work"),
    ("not an AuthResult", 502, "did not work"),
    (AuthResult.denied("bad token", "Your Fake ID answer was odd."), 403, "Your Fake ID answer was odd."),
    (AuthResult.unavailable("token endpoint down"), 503, "Fake ID cannot be reached"),
    (AuthResult.ok(Identity("someone-else", "x", external_id="1")), 502, "did not work"),
])
def test_a_bad_complete_is_a_readable_page(plugdesk_app_factory, result, status, phrase) -> None:
    plugin = FakeSso()
    plugin.complete_result = result
    client = _app(plugdesk_app_factory, plugin).test_client()
    state = parse_qs(urlsplit(leave_url(_begin(client))).query)["state"][0]
    response = client.get(f"/login/sso/fake/callback?state={state}&code=c")
    body = response.get_data(as_text=True)
    assert response.status_code == status and phrase in body and "Traceback" not in body
    with client.session_transaction() as session:
        assert "uid" not in session


def test_a_failing_logout_hook_still_logs_out_locally(plugdesk_app_factory, caplog) -> None:
    plugin = FakeSso()
    plugin.logout_result = RuntimeError("no metadata")
    client = _app(plugdesk_app_factory, plugin).test_client()
    state = parse_qs(urlsplit(leave_url(_begin(client))).query)["state"][0]
    client.get(f"/login/sso/fake/callback?state={state}&code=c")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).headers["Location"] == "/"
    assert "local logout only" in caplog.text
