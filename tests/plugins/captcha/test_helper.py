"""The core captcha helper (core/captcha.py): when a captcha applies, CSP additions, fail-closed checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
from flask import Flask

from core import hookimpl
from core.captcha import captcha_challenge, captcha_needed, check_captcha, extend_csp, provider_problem, render_captcha
from core.types import CaptchaProvider, CaptchaVerdict, UserInfo
from tests.plugins.captcha.conftest import enable_captcha


class Misbehaving(CaptchaProvider):
    """A provider that breaks every rule core must survive."""

    name = "misbehaving"
    csp_sources = {"img-src": ["https://cdn.example.net"], "worker-src": ["https://w.example.net"]}

    def __init__(self) -> None:
        self.mode = "raise"

    def render(self, purpose: str) -> str:
        return f"<p>challenge for {purpose}</p>"

    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        if self.mode == "raise":
            raise RuntimeError("backend exploded")
        if self.mode == "none":
            return None  # type: ignore[return-value]
        return CaptchaVerdict(True)

    def unavailable_reason(self) -> str | None:
        if self.mode == "broken-check":
            raise RuntimeError("cannot tell")
        return "keys missing" if self.mode == "unconfigured" else None


class MisbehavingPlugin:
    def __init__(self) -> None:
        self.provider = Misbehaving()

    @hookimpl
    def captcha_providers(self) -> dict[str, CaptchaProvider]:
        return {"misbehaving": self.provider}


@pytest.fixture
def misbehaving(plugdesk_app_factory: Callable[..., Flask]) -> tuple[Flask, Misbehaving]:
    plugin = MisbehavingPlugin()
    app = plugdesk_app_factory(["auth_local"], extra={"misbehaving": plugin},
                               overrides={"captcha": {"provider": "misbehaving"}})
    plugin.provider.mode = "ok"
    enable_captcha(app, "misbehaving")
    return app, plugin.provider


def user(verified: bool) -> UserInfo:
    return UserInfo(1, "u", "u@example.com", "U", "user", "local", verified, True, datetime.now(UTC))


def test_extend_csp_adds_sources_once_and_new_directives_from_self() -> None:
    csp = "default-src 'self'; script-src 'self'; frame-ancestors 'self'"
    out = extend_csp(csp, {"script-src": ["https://a.example/", "'self'"], "frame-src": ["https://b.example/"]})
    assert out == ("default-src 'self'; script-src 'self' https://a.example/; frame-ancestors 'self'; "
                   "frame-src 'self' https://b.example/")
    assert extend_csp(out, {"script-src": ["https://a.example/"]}) == out


def test_needed_only_when_enabled_and_not_for_verified_users_posting(builtin_app: Flask) -> None:
    state = builtin_app.extensions["plugdesk"]
    with builtin_app.app_context():
        assert not captcha_needed(state, "register")
        enable_captcha(builtin_app, "builtin")
        assert captcha_needed(state, "register") and captcha_needed(state, "ticket", user(False))
        assert captcha_needed(state, "ticket") and not captcha_needed(state, "ticket", user(True))
        assert captcha_needed(state, "community_thread", user(False)) and captcha_needed(state, "community_thread")
        assert not captcha_needed(state, "community_thread", user(True))
        with pytest.raises(ValueError, match="unknown captcha purpose"):
            captcha_needed(state, "login")


def test_provider_errors_fail_closed(misbehaving: tuple[Flask, Misbehaving]) -> None:
    app, provider = misbehaving
    state = app.extensions["plugdesk"]
    with app.test_request_context():
        assert check_captcha(state, {}, "register", "192.0.2.1").ok
        provider.mode = "raise"
        assert check_captcha(state, {}, "register", "192.0.2.1").reason == "provider error"
        provider.mode = "none"
        assert check_captcha(state, {}, "register", "192.0.2.1").reason == "provider returned no verdict"
        provider.mode = "unconfigured"
        verdict = check_captcha(state, {}, "register", "192.0.2.1")
        assert not verdict.ok and "keys missing" in verdict.reason
        assert "not available" in render_captcha(state, "register")
        assert captcha_challenge(state, "register")["provider"] is None
        provider.mode = "broken-check"
        assert "self-check failed" in provider_problem(provider)
        assert not check_captcha(state, {}, "register", "192.0.2.1").ok


def test_csp_sources_are_added_to_the_rendering_page_only(misbehaving: tuple[Flask, Misbehaving]) -> None:
    app, _provider = misbehaving
    client = app.test_client()
    csp = client.get("/register").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://cdn.example.net" in csp
    assert "worker-src 'self' https://w.example.net" in csp and "frame-ancestors 'self'" in csp
    assert "example.net" not in client.get("/login").headers["Content-Security-Policy"]


def test_selecting_an_unconfigured_provider_is_refused(misbehaving: tuple[Flask, Misbehaving]) -> None:
    from core.runtime_settings import SettingsValidationError

    app, provider = misbehaving
    runtime = app.extensions["plugdesk"].runtime
    runtime.patch({"security.captcha.enabled": False}, actor="t")
    provider.mode = "unconfigured"
    with pytest.raises(SettingsValidationError, match="cannot be used: keys missing"):
        runtime.patch({"security.captcha.enabled": True}, actor="t")
