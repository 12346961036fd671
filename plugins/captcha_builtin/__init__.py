"""``captcha_builtin``: an offline captcha (distorted-text image + audio alternative).

Configuration (all optional) in ``[plugins.captcha_builtin]``: ``length`` (6), ``ttl_seconds`` (600),
``media_per_minute`` (30 image/audio/new-challenge requests per client IP), ``audio`` (true).
Select it with ``security.captcha.provider = "builtin"``. See docs/captcha.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from core import CaptchaProvider, PluginContext, hookimpl
from plugins.captcha_builtin.provider import NAME, BuiltinCaptcha, BuiltinOptions
from plugins.captcha_builtin.tokens import reveal_answer

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
__all__ = ["BuiltinCaptcha", "BuiltinOptions", "reveal_answer"]


def _provider(ctx: PluginContext) -> BuiltinCaptcha:
    parsed = ctx.plugin_config(NAME)
    return parsed if isinstance(parsed, BuiltinCaptcha) else BuiltinCaptcha(ctx, BuiltinOptions.parse(parsed or {}))


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> BuiltinCaptcha:
    """Validate ``[plugins.captcha_builtin]`` and build this app's provider (shared by the other hooks)."""
    return BuiltinCaptcha(ctx, BuiltinOptions.parse(raw))


@hookimpl
def captcha_providers(ctx: PluginContext) -> dict[str, CaptchaProvider]:
    """The ``builtin`` provider."""
    return {"builtin": _provider(ctx)}


@hookimpl
def register_blueprints(ctx: PluginContext) -> list[Blueprint]:
    """Image, audio, new-challenge endpoints and the widget's JS/CSS under ``/captcha/builtin``."""
    from plugins.captcha_builtin.views import make_blueprint

    return [make_blueprint(_provider(ctx))]
