"""``[plugins.captcha_recaptcha]``: keys, version, score threshold, actions and the siteverify endpoint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field

from core import ConfigModel, PluginConfigError, explain, parse_plugin_config

GOOGLE_VERIFY_URL = "https://www.google.com/recaptcha/api/siteverify"
GOOGLE_SCRIPT_URL = "https://www.google.com/recaptcha/api.js"
DEFAULT_SCRIPT_SOURCES = ("https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/")
DEFAULT_FRAME_SOURCES = ("https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/")
_ACTION = re.compile(r"^[A-Za-z0-9_/]{1,100}$")  # what Google accepts as an action name
_SOURCE = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?$")


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


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def _sources(value: list[str]) -> list[str]:
    for item in value:
        if not _SOURCE.match(item):
            raise ValueError(f"{item!r} is not an https source such as 'https://www.google.com/recaptcha/'")
    return value


Url = Annotated[str, AfterValidator(_url)]
Sources = Annotated[list[str], AfterValidator(_sources)]


class RecaptchaTable(ConfigModel):
    """``[plugins.captcha_recaptcha]`` as written; :func:`parse` turns it into a :class:`RecaptchaConfig`."""

    model_config = ConfigDict(str_strip_whitespace=True)
    site_key: str = ""
    secret: str = Field("", repr=False)
    version: Annotated[Literal["v2", "v3"], explain('expected "v2" (checkbox) or "v3" (score), got {got}')] = "v2"
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    actions: Annotated[dict[str, Annotated[str, Field(pattern=_ACTION.pattern)]],
                       explain('expected a table of purpose = "action" (letters, digits, _ and /)')] = {}
    verify_url: Url = GOOGLE_VERIFY_URL
    script_url: Url = GOOGLE_SCRIPT_URL
    timeout_seconds: Annotated[float, Field(ge=0.1, le=30.0)] = 3.0
    max_age_seconds: Annotated[float, Field(ge=30, le=3600)] = 300
    hostnames: list[str] = []
    csp_script_src: Sources = list(DEFAULT_SCRIPT_SOURCES)
    csp_frame_src: Sources = list(DEFAULT_FRAME_SOURCES)


def parse(raw: Mapping[str, Any]) -> RecaptchaConfig:
    """Validate the table; raise :class:`PluginConfigError` naming the key. Keys may be left out entirely
    (the provider then reports itself unusable and cannot be selected), but not only one of them."""
    t = parse_plugin_config(RecaptchaTable, raw)
    if bool(t.site_key) != bool(t.secret):
        missing = "secret" if t.site_key else "site_key"
        raise PluginConfigError(missing, "site_key and secret go together; set both or neither")
    return RecaptchaConfig(
        site_key=t.site_key, secret=t.secret, version=t.version, score_threshold=float(t.score_threshold),
        actions=dict(t.actions), verify_url=t.verify_url, script_url=t.script_url,
        timeout_seconds=float(t.timeout_seconds), max_age_seconds=int(t.max_age_seconds),
        hostnames=tuple(h.lower() for h in t.hostnames), csp_script_src=tuple(t.csp_script_src),
        csp_frame_src=tuple(t.csp_frame_src))
