"""``[plugins.captcha_recaptcha]``: keys, version, score threshold, actions and the siteverify endpoint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.types import PluginConfigError

GOOGLE_VERIFY_URL = "https://www.google.com/recaptcha/api/siteverify"
GOOGLE_SCRIPT_URL = "https://www.google.com/recaptcha/api.js"
DEFAULT_SCRIPT_SOURCES = ("https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/")
DEFAULT_FRAME_SOURCES = ("https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/")
_ACTION = re.compile(r"^[A-Za-z0-9_/]{1,100}$")  # what Google accepts as an action name
_SOURCE = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?$")
KEYS = ("site_key", "secret", "version", "score_threshold", "actions", "verify_url", "script_url", "timeout_seconds",
        "max_age_seconds", "hostnames", "csp_script_src", "csp_frame_src")


@dataclass(frozen=True)
class RecaptchaConfig:
    """Parsed plugin table. ``secret`` is excluded from ``repr`` so it never reaches a log line."""

    site_key: str = ""
    secret: str = field(default="", repr=False)
    version: str = "v2"  # "v2" (checkbox) or "v3" (invisible, scored)
    score_threshold: float = 0.5  # v3: lowest accepted score
    actions: Mapping[str, str] = field(default_factory=dict)  # v3: purpose -> expected action (default: purpose)
    verify_url: str = GOOGLE_VERIFY_URL
    script_url: str = GOOGLE_SCRIPT_URL
    timeout_seconds: float = 3.0
    max_age_seconds: int = 300  # reject a solution whose challenge_ts is older (Google's own limit is 2 min)
    hostnames: tuple[str, ...] = ()  # accepted hostnames besides server.base_url's host
    csp_script_src: tuple[str, ...] = DEFAULT_SCRIPT_SOURCES
    csp_frame_src: tuple[str, ...] = DEFAULT_FRAME_SOURCES

    def action_for(self, purpose: str) -> str:
        """The action a v3 token for ``purpose`` must carry."""
        return self.actions.get(purpose, purpose)

    def missing_keys(self) -> str | None:
        """Why the provider cannot be used, or ``None`` when both keys are set."""
        if self.site_key and self.secret:
            return None
        return ("reCAPTCHA has no keys: set site_key and secret (secret = { \"$env\" = \"NAME\" } or "
                "{ \"$file\" = \"path\" }) in [plugins.captcha_recaptcha] and restart")


def _text(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise PluginConfigError(key, "expected a string")
    return value.strip()


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PluginConfigError(key, f"expected a number from {low} to {high}, got {value!r}")
    return float(value)


def _url(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = _text(raw, key, default)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginConfigError(key, f"expected an http(s) URL, got {value!r}")
    return value


def _strings(raw: Mapping[str, Any], key: str, default: tuple[str, ...], pattern: re.Pattern[str] | None) -> tuple:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PluginConfigError(key, "expected a list of strings")
    for item in value:
        if pattern is not None and not pattern.match(item):
            raise PluginConfigError(key, f"{item!r} is not an https source such as 'https://www.google.com/recaptcha/'")
    return tuple(value)


def parse(raw: Mapping[str, Any]) -> RecaptchaConfig:
    """Validate the table; raise :class:`PluginConfigError` naming the key. Keys may be left out entirely
    (the provider then reports itself unusable and cannot be selected), but not only one of them."""
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise PluginConfigError(unknown[0], f"unknown key; accepted: {', '.join(KEYS)}")
    site_key, secret = _text(raw, "site_key", ""), _text(raw, "secret", "")
    if bool(site_key) != bool(secret):
        missing = "secret" if site_key else "site_key"
        raise PluginConfigError(missing, "site_key and secret go together; set both or neither")
    version = _text(raw, "version", "v2")
    if version not in ("v2", "v3"):
        raise PluginConfigError("version", f"expected \"v2\" (checkbox) or \"v3\" (score), got {version!r}")
    actions = raw.get("actions", {})
    if not isinstance(actions, Mapping) or not all(isinstance(v, str) and _ACTION.match(v) for v in actions.values()):
        raise PluginConfigError("actions", "expected a table of purpose = \"action\" (letters, digits, _ and /)")
    hostnames = tuple(h.lower() for h in _strings(raw, "hostnames", (), None))
    return RecaptchaConfig(
        site_key=site_key, secret=secret, version=version,
        score_threshold=_number(raw, "score_threshold", 0.5, 0.0, 1.0),
        actions=dict(actions),
        verify_url=_url(raw, "verify_url", GOOGLE_VERIFY_URL),
        script_url=_url(raw, "script_url", GOOGLE_SCRIPT_URL),
        timeout_seconds=_number(raw, "timeout_seconds", 3.0, 0.1, 30.0),
        max_age_seconds=int(_number(raw, "max_age_seconds", 300, 30, 3600)),
        hostnames=hostnames,
        csp_script_src=_strings(raw, "csp_script_src", DEFAULT_SCRIPT_SOURCES, _SOURCE),
        csp_frame_src=_strings(raw, "csp_frame_src", DEFAULT_FRAME_SOURCES, _SOURCE),
    )
