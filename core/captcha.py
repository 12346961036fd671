"""The one captcha helper every form and API route uses (public contract, see docs/hooks.md).

Purposes: ``register``, ``ticket`` (portal ticket submission), ``community_thread`` (only for users whose
email address is not verified). Core decides *whether* a captcha applies; the provider chosen by
``security.captcha.provider`` renders and verifies it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from markupsafe import Markup

from core.app_state import AppState
from core.types import CaptchaVerdict, UserInfo

log = logging.getLogger("plugdesk.captcha")
PURPOSES = ("register", "ticket", "community_thread")


def captcha_needed(state: AppState, purpose: str, user: UserInfo | None = None) -> bool:
    """Tell whether a form for ``purpose`` must carry a captcha for ``user`` (``None`` = anonymous)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown captcha purpose {purpose!r}")
    if not state.runtime.get("security.captcha.enabled"):
        return False
    if purpose == "community_thread" and user is not None and user.verified:
        return False
    return True


def render_captcha(state: AppState, purpose: str, user: UserInfo | None = None) -> Markup:
    """The HTML to put in the form (empty when no captcha applies)."""
    if not captcha_needed(state, purpose, user):
        return Markup("")
    provider = state.captcha
    if provider is None:
        return Markup('<p class="error">Captcha is switched on but its provider is not enabled.</p>')
    return Markup(provider.render(purpose))


def check_captcha(state: AppState, form: Mapping[str, str], purpose: str, remote_addr: str,
                  user: UserInfo | None = None) -> CaptchaVerdict:
    """Verify the captcha fields of a submitted form; fail closed."""
    if not captcha_needed(state, purpose, user):
        return CaptchaVerdict(ok=True)
    provider = state.captcha
    if provider is None:
        log.error("captcha enabled but provider %r is not available", state.runtime.get("security.captcha.provider"))
        return CaptchaVerdict(ok=False, reason="provider missing")
    try:
        verdict = provider.verify(form, purpose, remote_addr)
    except Exception:
        log.exception("captcha provider %s raised; refusing (fail closed)", provider.name)
        return CaptchaVerdict(ok=False, reason="provider error")
    if not verdict.ok:
        log.info("captcha for %s from %s refused: %s", purpose, remote_addr, verdict.reason)
    return verdict
