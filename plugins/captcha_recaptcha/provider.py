"""Google reCAPTCHA v2 (checkbox) and v3 (score) with server-side verification that fails closed."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import escape

from core import CaptchaProvider, CaptchaVerdict, PluginContext
from plugins.captcha_recaptcha.config import RecaptchaConfig

NAME = "captcha_recaptcha"
URL_PREFIX = "/captcha/recaptcha"
RESPONSE_FIELD = "g-recaptcha-response"
MAX_RESPONSE_LENGTH = 8192  # real tokens are a few hundred to ~2,000 characters
MAX_BODY = 64 * 1024
TRY_AGAIN = "We could not confirm that you are a person. Please try again."
# Documented siteverify error codes that mean *our* configuration is wrong (logged as errors).
CONFIG_ERRORS = {"missing-input-secret", "invalid-input-secret", "bad-request"}


class SiteverifyError(Exception):
    """Siteverify could not give a usable answer (timeout, HTTP error, not JSON)."""


def _parse_ts(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RecaptchaCaptcha(CaptchaProvider):
    """reCAPTCHA provider. ``clock`` is injectable so tests can age a solution."""

    name = "recaptcha"

    def __init__(self, ctx: PluginContext, config: RecaptchaConfig, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.config = config
        self.clock = clock
        self.log = ctx.log(NAME)
        base_host = urlsplit(ctx.settings.get("server", "base_url")).hostname or ""
        self.hostnames = frozenset({base_host.lower(), *config.hostnames} - {""})
        script = config.script_url.split("?", 1)[0]
        self.csp_sources = {"script-src": [*config.csp_script_src, script], "frame-src": list(config.csp_frame_src)}
        self._opener = urllib.request.build_opener()

    # ------------------------------------------------------------------ rendering
    def _script_url(self) -> str:
        base = self.config.script_url
        if self.config.version == "v3":
            return f"{base}{'&' if '?' in base else '?'}{urlencode({'render': self.config.site_key})}"
        return base

    def render(self, purpose: str) -> str:
        """The v2 checkbox widget, or the v3 hidden field filled by ``recaptcha-v3.js`` on submit."""
        key = escape(self.config.site_key)
        google = f'<script src="{escape(self._script_url())}" async defer></script>'
        if self.config.version == "v2":
            return (f'<div class="captcha captcha-recaptcha"><div class="g-recaptcha" data-sitekey="{key}"></div>'
                    f'{google}<noscript><p class="error">Please enable JavaScript to confirm you are a person '
                    f'(reCAPTCHA).</p></noscript></div>')
        from flask import has_request_context, request

        root = request.script_root if has_request_context() else ""
        return (f'<div class="captcha captcha-recaptcha">'
                f'<input type="hidden" name="{RESPONSE_FIELD}" value="" class="recaptcha-v3" '
                f'data-sitekey="{key}" data-action="{escape(self.config.action_for(purpose))}">{google}'
                f'<script src="{root}{URL_PREFIX}/static/recaptcha-v3.js" defer></script>'
                f'<p class="help">This form is protected by reCAPTCHA; Google\'s '
                f'<a href="https://policies.google.com/privacy">Privacy Policy</a> and '
                f'<a href="https://policies.google.com/terms">Terms of Service</a> apply.</p>'
                f'<noscript><p class="error">Please enable JavaScript to send this form (reCAPTCHA).</p></noscript>'
                f'</div>')

    def api_challenge(self, purpose: str) -> dict[str, Any]:
        """What an API client needs to obtain a token itself."""
        body: dict[str, Any] = {"site_key": self.config.site_key, "version": self.config.version,
                                "fields": {"response": RESPONSE_FIELD}}
        if self.config.version == "v3":
            body["action"] = self.config.action_for(purpose)
        return body

    def unavailable_reason(self) -> str | None:
        """Refuse selection (and fail every check) while the keys are missing."""
        return self.config.missing_keys()

    # ------------------------------------------------------------------ verification
    def siteverify(self, response: str, remote_addr: str) -> dict[str, Any]:
        """POST ``secret``, ``response``, ``remoteip``; return the JSON object or raise :class:`SiteverifyError`.

        Error messages never contain the secret (it only travels in the request body).
        """
        data = urlencode({"secret": self.config.secret, "response": response, "remoteip": remote_addr}).encode()
        request = urllib.request.Request(self.config.verify_url, data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        deadline = time.monotonic() + self.config.timeout_seconds
        try:
            with self._opener.open(request, timeout=self.config.timeout_seconds) as reply:
                chunks: list[bytes] = []
                size = 0
                while size <= MAX_BODY:
                    if time.monotonic() > deadline:
                        raise SiteverifyError(f"siteverify too slow (> {self.config.timeout_seconds} s)")
                    chunk = reply.read1(16384) if hasattr(reply, "read1") else reply.read(16384)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                body = b"".join(chunks)
        except urllib.error.HTTPError as exc:
            raise SiteverifyError(f"siteverify answered HTTP {exc.code}") from None
        except TimeoutError:
            raise SiteverifyError(f"siteverify timed out after {self.config.timeout_seconds} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise SiteverifyError(f"siteverify timed out after {self.config.timeout_seconds} s") from None
            raise SiteverifyError(f"siteverify unreachable: {reason}") from None
        except (OSError, ValueError) as exc:  # connection reset, bad status line, ...
            raise SiteverifyError(f"siteverify failed: {exc.__class__.__name__}") from None
        if size > MAX_BODY:
            raise SiteverifyError("siteverify answer too large")
        try:
            result = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise SiteverifyError("siteverify answered something that is not JSON") from None
        if not isinstance(result, dict):
            raise SiteverifyError("siteverify answered JSON that is not an object")
        return result

    def _refuse(self, reason: str, purpose: str, remote_addr: str, *, config_problem: bool = False) -> CaptchaVerdict:
        log = self.log.error if config_problem else self.log.warning
        log("reCAPTCHA refused for %s from %s: %s", purpose, remote_addr, reason)
        return CaptchaVerdict(False, reason, TRY_AGAIN)

    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        """Ask siteverify and check success, hostname, age, and for v3 action and score. Fail closed."""
        problem = self.config.missing_keys()
        if problem:
            return self._refuse("not configured: " + problem, purpose, remote_addr, config_problem=True)
        token = form.get(RESPONSE_FIELD)
        if not isinstance(token, str) or not token.strip():
            return self._refuse("missing response token", purpose, remote_addr)
        token = token.strip()
        if len(token) > MAX_RESPONSE_LENGTH:
            return self._refuse(f"oversized response token ({len(token)} characters)", purpose, remote_addr)
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not self.ctx.limits.claim(f"{NAME}:used:{digest}", max(600, self.config.max_age_seconds * 2)):
            return self._refuse("response token already used (replay)", purpose, remote_addr)
        try:
            result = self.siteverify(token, remote_addr)
        except SiteverifyError as exc:
            return self._refuse(str(exc), purpose, remote_addr)
        if result.get("success") is not True:
            codes = result.get("error-codes") or []
            codes = [str(c) for c in codes] if isinstance(codes, list) else [str(codes)]
            return self._refuse(f"siteverify success=false, error-codes={','.join(codes) or 'none'}", purpose,
                                remote_addr, config_problem=bool(CONFIG_ERRORS & set(codes)))
        hostname = str(result.get("hostname") or "").lower()
        if hostname not in self.hostnames:
            return self._refuse(f"hostname {hostname or '(none)'!r} is not {', '.join(sorted(self.hostnames))}",
                                purpose, remote_addr)
        solved_at = _parse_ts(result.get("challenge_ts"))
        if solved_at is None:
            return self._refuse("challenge_ts missing or unreadable", purpose, remote_addr)
        age = self.clock() - solved_at
        if abs(age) > self.config.max_age_seconds:
            return self._refuse(f"solution is {int(age)} s old (limit {self.config.max_age_seconds} s)", purpose,
                                remote_addr)
        if self.config.version == "v3":
            expected = self.config.action_for(purpose)
            if result.get("action") != expected:
                return self._refuse(f"action {result.get('action')!r} is not {expected!r}", purpose, remote_addr)
            score = result.get("score")
            if isinstance(score, bool) or not isinstance(score, int | float):
                return self._refuse("no score in the answer (is the site key a v3 key?)", purpose, remote_addr)
            if score < self.config.score_threshold:
                return self._refuse(f"score {score} below {self.config.score_threshold}", purpose, remote_addr)
            return CaptchaVerdict(True, f"score {score}")
        return CaptchaVerdict(True, "solved")
