"""Fixtures for the captcha tests: apps with one captcha plugin, a local siteverify stub."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.plugins.captcha.siteverify_stub import SiteverifyStub

RECAPTCHA_SECRET = "stub-secret-6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe"
SITE_KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
TOKEN_RE = re.compile(r'name="captcha_token" value="([^"]+)"')


def token_in(html: str) -> str:
    """The built-in captcha's token from a rendered page."""
    match = TOKEN_RE.search(html)
    assert match, "no captcha token in the page"
    return match.group(1)


def enable_captcha(app: Flask, provider: str) -> None:
    """Switch captcha on with ``provider`` (through the validated runtime settings)."""
    app.extensions["plugdesk"].runtime.patch(
        {"security.captcha.enabled": True, "security.captcha.provider": provider}, actor="test")


@pytest.fixture
def builtin_app(plugdesk_app_factory: Callable[..., Flask]) -> Flask:
    """auth_local + captcha_builtin, CSRF off for form posts from the test client."""
    app = plugdesk_app_factory(["auth_local", "captcha_builtin"])
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def stub() -> Iterator[SiteverifyStub]:
    """A running siteverify stub that knows :data:`RECAPTCHA_SECRET`."""
    server = SiteverifyStub(RECAPTCHA_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def recaptcha_app_factory(plugdesk_app_factory: Callable[..., Flask], stub: SiteverifyStub,
                          tmp_path: Path) -> Callable[..., Flask]:
    """``make(version="v2", **table)``: an app with captcha_recaptcha pointed at the stub (secret via $file)."""
    secret_file = tmp_path / "recaptcha.secret"
    secret_file.write_text(RECAPTCHA_SECRET + "\n")

    def make(version: str = "v2", keys: bool = True, overrides: dict[str, Any] | None = None, **table: Any) -> Flask:
        config: dict[str, Any] = {"version": version, "verify_url": stub.url, "timeout_seconds": 1.0, **table}
        if keys:
            config.setdefault("site_key", SITE_KEY)
            config.setdefault("secret", {"$file": str(secret_file)})
        app = plugdesk_app_factory(["auth_local", "captcha_recaptcha"], overrides={
            "plugins": {"captcha_recaptcha": config}, "captcha": {"provider": "recaptcha"}, **(overrides or {})})
        app.config["WTF_CSRF_ENABLED"] = False
        return app

    return make
