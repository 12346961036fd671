"""The one captcha helper every form and API route uses (public contract, see docs/captcha.md).

Purposes: ``register``, ``ticket`` (portal ticket submission) and ``community_thread``; the last two only for
guests and users whose email address is not verified. Core decides *whether* a captcha applies; the provider chosen by
``security.captcha.provider`` renders and verifies it.

A form that needs a captcha does three things::

    html = render_captcha(state, "ticket", user)          # put it inside the <form>
    verdict = check_captcha(state, request.form, "ticket", request_info().remote_addr, user)
    if not verdict.ok: show verdict.message next to the captcha and re-render the form with the user's values

API routes use :func:`captcha_challenge` to tell clients what to solve and pass the JSON body to
:func:`check_captcha` like a form.

Providers may optionally define (duck-typed, so older providers keep working):

* ``unavailable_reason() -> str | None``: why the provider cannot be used right now (e.g. missing keys);
  core then refuses to select it in the settings and every check fails closed.
* ``csp_sources: Mapping[str, Sequence[str]]``: extra Content-Security-Policy sources the rendered
  fragment needs (e.g. ``{"script-src": ["https://www.google.com/recaptcha/"]}``); added to the response
  of the page that renders the captcha only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Response, after_this_request, g, has_request_context
from markupsafe import Markup

from core.app_state import AppState
from core.types import CaptchaProvider, CaptchaVerdict, UserInfo

log = logging.getLogger("plugdesk.captcha")
PURPOSES = ("register", "ticket", "community_thread")
NOT_AVAILABLE = Markup('<p class="error">Captcha is switched on but its provider is not available. '
                       'Please contact the administrator.</p>')


def provider_problem(provider: CaptchaProvider | None) -> str | None:
    """Why ``provider`` cannot be used (``None`` when it can), from its optional ``unavailable_reason()``."""
    if provider is None:
        return "the provider is not enabled"
    reason = getattr(provider, "unavailable_reason", None)
    if not callable(reason):
        return None
    try:
        return reason() or None
    except Exception as exc:  # a broken check must not crash the settings page
        log.exception("captcha provider %s: unavailable_reason() raised", getattr(provider, "name", "?"))
        return f"the provider's self-check failed ({exc.__class__.__name__})"


def captcha_needed(state: AppState, purpose: str, user: UserInfo | None = None) -> bool:
    """Tell whether a form for ``purpose`` must carry a captcha for ``user`` (``None`` = anonymous)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown captcha purpose {purpose!r}")
    if not state.runtime.get("security.captcha.enabled"):
        return False
    if purpose in ("community_thread", "ticket") and user is not None and user.verified:
        return False  # the captcha is for users whose address is not verified (Settings > Security says so)
    return True


def extend_csp(csp: str, extra: Mapping[str, Iterable[str]]) -> str:
    """Add sources to directives of a CSP string; a missing directive starts from ``'self'``."""
    directives: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    for name, sources in extra.items():
        current = directives.setdefault(name, ["'self'"])
        for source in sources:
            if source not in current:
                current.append(source)
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


def _request_csp(provider: CaptchaProvider) -> None:
    extra = getattr(provider, "csp_sources", None)
    if not extra or not has_request_context() or g.get("_plugdesk_captcha_csp"):
        return
    g._plugdesk_captcha_csp = True

    @after_this_request
    def add_sources(response: Response) -> Response:
        from core.web.headers import BASE_CSP

        response.headers["Content-Security-Policy"] = extend_csp(
            response.headers.get("Content-Security-Policy") or BASE_CSP, extra)
        return response


def render_captcha(state: AppState, purpose: str, user: UserInfo | None = None) -> Markup:
    """The HTML to put in the form (empty when no captcha applies)."""
    if not captcha_needed(state, purpose, user):
        return Markup("")
    provider = state.captcha
    if provider is None or provider_problem(provider):
        return NOT_AVAILABLE
    _request_csp(provider)
    return Markup(provider.render(purpose))


def captcha_challenge(state: AppState, purpose: str, user: UserInfo | None = None) -> dict[str, Any]:
    """What an API client must solve for ``purpose``: ``{"required": False}`` or the provider's challenge.

    The result always has ``required`` and, when required, ``provider`` plus the provider's own keys (for the
    built-in captcha: ``token``, ``image_url``, ``audio_url``, ``fields``).
    """
    if not captcha_needed(state, purpose, user):
        return {"required": False}
    provider = state.captcha
    if provider is None or provider_problem(provider):
        return {"required": True, "provider": None, "error": "captcha provider not available"}
    return {"required": True, "provider": provider.name, **provider.api_challenge(purpose)}


def check_captcha(state: AppState, form: Mapping[str, str], purpose: str, remote_addr: str,
                  user: UserInfo | None = None) -> CaptchaVerdict:
    """Verify the captcha fields of a submitted form; fail closed."""
    if not captcha_needed(state, purpose, user):
        return CaptchaVerdict(ok=True)
    provider = state.captcha
    if provider is None:
        log.error("captcha enabled but provider %r is not available", state.runtime.get("security.captcha.provider"))
        return CaptchaVerdict(ok=False, reason="provider missing")
    problem = provider_problem(provider)
    if problem:
        log.error("captcha provider %s cannot be used (%s); refusing (fail closed)", provider.name, problem)
        return CaptchaVerdict(ok=False, reason=f"provider unavailable: {problem}")
    try:
        verdict = provider.verify(form, purpose, remote_addr)
    except Exception:
        log.exception("captcha provider %s raised; refusing (fail closed)", provider.name)
        return CaptchaVerdict(ok=False, reason="provider error")
    if not isinstance(verdict, CaptchaVerdict):
        log.error("captcha provider %s returned %r instead of a CaptchaVerdict; refusing", provider.name, verdict)
        return CaptchaVerdict(ok=False, reason="provider returned no verdict")
    if not verdict.ok:
        log.info("captcha for %s from %s refused: %s", purpose, remote_addr, verdict.reason)
    return verdict
