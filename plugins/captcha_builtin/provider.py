"""The built-in captcha: distorted-text image plus an audio alternative, fully offline.

State lives in the token (see :mod:`plugins.captcha_builtin.tokens`) and in one used-nonce marker per
challenge in ``ctx.limits`` (memory or Redis), so a challenge rendered on one node can be answered on any
other, and only once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from markupsafe import escape
from pydantic import Field

from core import CaptchaProvider, CaptchaVerdict, ConfigModel, PluginContext, parse_plugin_config
from plugins.captcha_builtin.tokens import MAX_ANSWER_LENGTH, MAX_TOKEN_LENGTH, Challenge, ChallengeCodec, InvalidToken

NAME = "captcha_builtin"
URL_PREFIX = "/captcha/builtin"
TOKEN_FIELD = "captcha_token"
ANSWER_FIELD = "captcha_answer"
# Characters both the image font and the bundled voices handle, minus look-alikes (0/O, 1/I).
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TRY_AGAIN = "The characters did not match. Please try the new challenge."
EXPIRED = "The challenge expired. Please solve the new one."


class ChallengeGone(LookupError):
    """The challenge expired or was already used (the image/audio endpoints answer 410)."""


class BuiltinOptions(ConfigModel):
    """``[plugins.captcha_builtin]``: all optional."""

    length: Annotated[int, Field(ge=4, le=10, description="characters per challenge")] = 6
    ttl_seconds: Annotated[int, Field(ge=60, le=3600, description="a challenge expires after this many seconds")] = 600
    media_per_minute: Annotated[int, Field(
        ge=1, le=10000, description="image/audio/new-challenge requests per client IP per minute")] = 30
    audio: Annotated[bool, Field(description="offer the audio alternative")] = True

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BuiltinOptions:
        """Validate the plugin's table; raise :class:`PluginConfigError` naming the key."""
        return parse_plugin_config(cls, raw)


class BuiltinCaptcha(CaptchaProvider):
    """Image + audio text captcha; tokens signed and encrypted with keys derived from ``ctx.secret_key``."""

    name = "builtin"

    def __init__(self, ctx: PluginContext, options: BuiltinOptions | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.options = options or BuiltinOptions()
        self.codec = ChallengeCodec(ctx.secret_key)
        self.clock = clock
        self._audio: Any = None
        self._audio_lock = threading.Lock()
        self.log = ctx.log(NAME)

    # ------------------------------------------------------------------ challenges
    def new_token(self, purpose: str) -> str:
        """A fresh random challenge for ``purpose``, as a token."""
        answer = "".join(secrets.choice(ALPHABET) for _ in range(self.options.length))
        return self.codec.seal(purpose, answer, int(self.clock()) + self.options.ttl_seconds)

    def _live(self, token: str) -> Challenge:
        challenge = self.codec.open(token)
        if challenge.expires <= self.clock() or self.ctx.limits.read(self._used_key(challenge)) is not None:
            raise ChallengeGone("expired or used")
        return challenge

    @staticmethod
    def _used_key(challenge: Challenge) -> str:
        return f"{NAME}:used:{challenge.nonce}"

    @staticmethod
    def url(kind: str, token: str = "", purpose: str = "") -> str:
        """The path of an endpoint: ``image``/``audio`` (for ``token``), ``challenge`` (for ``purpose``)."""
        from flask import has_request_context, request

        root = request.script_root if has_request_context() else ""
        if kind == "challenge":
            return f"{root}{URL_PREFIX}/challenge/{purpose}"
        if kind == "static":
            return f"{root}{URL_PREFIX}/static/{token}"
        suffix = {"image": "png", "audio": "wav"}[kind]
        return f"{root}{URL_PREFIX}/{kind}/{token}.{suffix}"

    # ------------------------------------------------------------------ CaptchaProvider
    def render(self, purpose: str) -> str:
        """A fieldset with the image, the audio alternative, the answer box and a "New challenge" button."""
        token = self.new_token(purpose)
        uid = f"captcha-{secrets.token_hex(4)}"
        image, audio = escape(self.url("image", token)), escape(self.url("audio", token))
        audio_html = ""
        if self.options.audio:
            audio_html = (
                f'<p class="captcha-audio" id="{uid}-audio-label">Cannot see the image? Listen to the characters: '
                f'<audio controls preload="none" src="{audio}" aria-labelledby="{uid}-audio-label"></audio> '
                f'<a href="{audio}" download="captcha.wav" class="captcha-audio-link">Download the audio '
                f'challenge</a></p>')
        return (
            f'<link rel="stylesheet" href="{escape(self.url("static", "captcha.css"))}">'
            f'<fieldset class="captcha captcha-builtin" id="{uid}" '
            f'data-challenge-url="{escape(self.url("challenge", purpose=purpose))}">'
            f'<legend>Prove you are a person</legend>'
            f'<input type="hidden" name="{TOKEN_FIELD}" value="{escape(token)}">'
            f'<img class="captcha-image" src="{image}" width="200" height="70" '
            f'alt="Distorted characters to type into the answer box. The audio challenge reads the same '
            f'characters.">'
            f'{audio_html}'
            f'<label for="{uid}-answer">Type the {self.options.length} characters you see or hear</label>'
            f'<input id="{uid}-answer" name="{ANSWER_FIELD}" type="text" autocomplete="off" autocorrect="off" '
            f'autocapitalize="characters" spellcheck="false" maxlength="{MAX_ANSWER_LENGTH}" required '
            f'aria-describedby="{uid}-help">'
            f'<p class="help" id="{uid}-help">Letters are not case-sensitive. Valid for '
            f'{self.options.ttl_seconds // 60} minutes.</p>'
            f'<button type="button" class="captcha-new secondary button small" hidden>New challenge</button>'
            f'<p class="captcha-status visually-hidden" role="status" aria-live="polite"></p>'
            f'<script src="{escape(self.url("static", "captcha.js"))}" defer></script>'
            f'</fieldset>')

    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        """Check the token and the answer: genuine, same purpose, not expired, first use, right characters."""
        token = form.get(TOKEN_FIELD)
        answer = form.get(ANSWER_FIELD)
        if not isinstance(token, str) or not token.strip():
            return CaptchaVerdict(False, "missing challenge token", TRY_AGAIN)
        if len(token) > MAX_TOKEN_LENGTH:
            return CaptchaVerdict(False, f"oversized challenge token ({len(token)} characters)", TRY_AGAIN)
        try:
            challenge = self.codec.open(token.strip())
        except InvalidToken as exc:
            return CaptchaVerdict(False, f"invalid challenge token: {exc}", TRY_AGAIN)
        if challenge.purpose != purpose:
            return CaptchaVerdict(False, f"token issued for {challenge.purpose!r}, used for {purpose!r}", TRY_AGAIN)
        now = self.clock()
        if challenge.expires <= now:
            return CaptchaVerdict(False, f"challenge expired {int(now - challenge.expires)} s ago", EXPIRED)
        # Claim before comparing: one guess per challenge, on every node.
        ttl = max(1, int(challenge.expires - now)) + 60
        if not self.ctx.limits.claim(self._used_key(challenge), ttl):
            return CaptchaVerdict(False, "challenge already used (replay)", TRY_AGAIN)
        typed = "".join(answer.split()).upper() if isinstance(answer, str) and len(answer) <= 256 else ""
        if not typed:
            return CaptchaVerdict(False, "no answer typed", TRY_AGAIN)
        if not secrets.compare_digest(typed.encode(), challenge.answer.upper().encode()):
            return CaptchaVerdict(False, "wrong answer", TRY_AGAIN)
        return CaptchaVerdict(True, "solved")

    def api_challenge(self, purpose: str) -> dict[str, Any]:
        """A challenge for API clients: send ``captcha_token`` and ``captcha_answer`` with the request."""
        token = self.new_token(purpose)
        body: dict[str, Any] = {
            "token": token,
            "image_url": self.url("image", token),
            "expires_in": self.options.ttl_seconds,
            "fields": {"token": TOKEN_FIELD, "answer": ANSWER_FIELD},
        }
        if self.options.audio:
            body["audio_url"] = self.url("audio", token)
        return body

    def unavailable_reason(self) -> str | None:
        """Always usable: the built-in captcha needs no outside service."""
        return None

    # ------------------------------------------------------------------ media
    def image(self, token: str) -> bytes:
        """The PNG for a live challenge; :class:`InvalidToken` or :class:`ChallengeGone` otherwise."""
        from captcha.image import ImageCaptcha

        answer = self._live(token).answer
        return ImageCaptcha(width=200, height=70).generate(answer, format="png").getvalue()

    def audio(self, token: str) -> bytes:
        """The WAV reading a live challenge's characters; same errors as :meth:`image`."""
        from captcha.audio import AudioCaptcha

        answer = self._live(token).answer
        with self._audio_lock:
            if self._audio is None:
                engine = AudioCaptcha()
                engine.load()
                self._audio = engine
        return bytes(self._audio.generate(answer))
