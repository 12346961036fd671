"""HTTP endpoints of the built-in captcha: image, audio and "new challenge" (rate limited per client IP)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from plugins.captcha_builtin.provider import NAME, URL_PREFIX, BuiltinCaptcha, ChallengeGone
from plugins.captcha_builtin.tokens import InvalidToken

STATIC = Path(__file__).parent / "static"
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def make_blueprint(provider: BuiltinCaptcha) -> Blueprint:
    """A blueprint bound to one app's provider (one per app: no module-level state)."""
    bp = Blueprint(NAME, __name__, url_prefix=URL_PREFIX, static_folder=str(STATIC), static_url_path="/static")
    limits = provider.ctx.limits
    log = provider.log

    def too_many() -> Response | None:
        ip = request.remote_addr or "unknown"
        try:
            count = limits.hit(f"{NAME}:media:{ip}", 60)
        except Exception as exc:  # limits store down: refuse rather than serve unlimited
            log.error("captcha rate limit store unavailable: %s", exc)
            return Response("Service unavailable, please try again.\n", 503, {"Retry-After": "10", **NO_STORE},
                            mimetype="text/plain")
        if count > provider.options.media_per_minute:
            log.info("captcha media rate limit hit by %s (%d in a minute)", ip, count)
            return Response("Too many captcha requests. Wait a minute and try again.\n", 429,
                            {"Retry-After": "60", **NO_STORE}, mimetype="text/plain")
        return None

    def media(kind: str, token: str) -> ResponseReturnValue:
        refused = too_many()
        if refused is not None:
            return refused
        try:
            body = provider.image(token) if kind == "image" else provider.audio(token)
        except InvalidToken:
            return Response("Unknown challenge.\n", 404, NO_STORE, mimetype="text/plain")
        except ChallengeGone:
            return Response("This challenge expired or was used. Ask for a new one.\n", 410, NO_STORE,
                            mimetype="text/plain")
        mimetype = "image/png" if kind == "image" else "audio/wav"
        return Response(body, 200, NO_STORE, mimetype=mimetype)

    @bp.get("/image/<token>.png")
    def image(token: str) -> ResponseReturnValue:
        """The distorted-text PNG of a live challenge."""
        return media("image", token)

    @bp.get("/audio/<token>.wav")
    def audio(token: str) -> ResponseReturnValue:
        """The same challenge read aloud (WAV)."""
        if not provider.options.audio:
            return Response("Audio challenges are switched off.\n", 404, NO_STORE, mimetype="text/plain")
        return media("audio", token)

    @bp.get("/challenge/<purpose>")
    def challenge(purpose: str) -> ResponseReturnValue:
        """A new challenge as JSON (the "New challenge" button and API clients use it)."""
        if not _PURPOSE.match(purpose):
            return Response("Unknown purpose.\n", 404, NO_STORE, mimetype="text/plain")
        refused = too_many()
        if refused is not None:
            return refused
        response = jsonify(provider.api_challenge(purpose))
        response.headers.update(NO_STORE)
        return response

    return bp
