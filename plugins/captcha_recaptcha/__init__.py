"""``captcha_recaptcha``: Google reCAPTCHA v2 (checkbox) or v3 (score + action), verified server-side.

Configure in ``[plugins.captcha_recaptcha]`` (see docs/captcha.md)::

    site_key = "6Lc..."
    secret = { "$env" = "RECAPTCHA_SECRET" }    # or { "$file" = "recaptcha.secret" }; never shown or logged
    version = "v3"                               # "v2" (default) or "v3"
    score_threshold = 0.5                        # v3
    actions = { register = "register" }          # v3: expected action per purpose (default: the purpose)

Without keys the plugin loads but ``security.captcha.provider = "recaptcha"`` is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint

from core import CaptchaProvider, PluginContext, hookimpl
from plugins.captcha_recaptcha.config import RecaptchaConfig, parse
from plugins.captcha_recaptcha.provider import NAME, URL_PREFIX, RecaptchaCaptcha

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
__all__ = ["RecaptchaCaptcha", "RecaptchaConfig"]


def _provider(ctx: PluginContext) -> RecaptchaCaptcha:
    parsed = ctx.plugin_config(NAME)
    return parsed if isinstance(parsed, RecaptchaCaptcha) else RecaptchaCaptcha(ctx, parse(parsed or {}))


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> RecaptchaCaptcha:
    """Validate ``[plugins.captcha_recaptcha]`` and build this app's provider (shared by the other hooks)."""
    return RecaptchaCaptcha(ctx, parse(raw))


@hookimpl
def captcha_providers(ctx: PluginContext) -> dict[str, CaptchaProvider]:
    """The ``recaptcha`` provider."""
    return {"recaptcha": _provider(ctx)}


@hookimpl
def register_blueprints(ctx: PluginContext) -> list[Blueprint]:
    """Serves ``recaptcha-v3.js`` (the v3 submit handler; CSP forbids inline scripts)."""
    static = Path(__file__).parent / "static"
    return [Blueprint(NAME, __name__, url_prefix=URL_PREFIX, static_folder=str(static), static_url_path="/static")]
