"""Password reset (``security.password_reset.*``): same answer whether or not the account exists.

Directory (external) accounts never get a reset email, whatever the switch says. Links are built from
``server.base_url``, never from the request's Host header.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.app_state import AppState
from core.auth import tokens
from core.auth.accounts import PasswordRejected, set_password
from core.auth.login import check_new_password
from core.auth.sessions import end_all_sessions
from core.limits import LimitsUnavailable
from core.models import User
from core.users import normalize_username, to_info

if TYPE_CHECKING:  # pragma: no cover
    from core.outbox.render import Rendered

log = logging.getLogger("plugdesk.auth.reset")
PURPOSE = "password_reset"
#: Reset links sent to one account per hour at most (checked by the worker at send time, so the request's
#: answer and timing stay the same): a stranger cannot flood someone's inbox from many addresses.
RESET_MAILS_PER_HOUR = 5


def reset_available(state: AppState) -> tuple[bool, str]:
    """Whether the reset feature can be offered at all, and why not."""
    if not any(not p.external and p.registration for p in state.auth_providers):
        where = " or ".join(p.label for p in state.auth_providers if p.external) or "another service"
        return False, f"Passwords are managed by {where}; reset yours there."
    if not state.runtime.get("security.password_reset.enabled"):
        return False, "Password reset is switched off in Settings › Security."
    return True, ""


def request_reset(state: AppState, login: str) -> None:
    """Queue a reset request; the worker emails a link if the account exists, is local and active.

    The request does the same work whatever ``login`` names - one outbox row, nothing looked up - so
    neither the answer nor its timing tells whether the account exists. The worker drops the row of an
    unknown or ineligible account without a trace (:func:`render_reset_mail`).
    """
    available, why = reset_available(state)
    key = normalize_username(login or "")[:320]
    if not available or not key:
        log.info("password reset not queued: %s", why or "empty login")
        return
    from core.outbox.service import enqueue

    with state.db.session() as s:
        enqueue(s, state.settings, kind=PURPOSE, payload={"login": key}, subject="Reset your password")


def render_reset_mail(state: AppState, payload: dict[str, Any]) -> Rendered | None:
    """Send time: issue the single-use token and write the message, or ``None`` (nothing to send).

    The raw token exists only in the message handed to the mail server; the database keeps its hash.
    """
    from core.outbox.render import Rendered

    key = str(payload.get("login", ""))
    available, why = reset_available(state)
    if not available or not key:
        log.info("password reset not sent: %s", why or "empty login")
        return None
    user = state.ctx.users.find(key)
    if user is None or not user.is_active or not user.email:
        log.info("password reset not sent: no such active account")
        return None
    provider = state.provider(user.provider)
    if provider is None or provider.external:
        log.info("password reset for %r not sent: account belongs to external provider %s", key, user.provider)
        return None
    try:
        sent_recently = state.ctx.limits.hit(f"reset-mail:{user.id}", 3600)
    except LimitsUnavailable:  # counters down: the link matters more than the cap
        sent_recently = 0
    if sent_recently > RESET_MAILS_PER_HOUR:
        log.warning("password reset for %r not sent: %s links in the last hour already", key, RESET_MAILS_PER_HOUR)
        return None
    minutes = state.runtime.get("security.password_reset.token_minutes")
    raw = tokens.issue(state.db, user.id, PURPOSE, timedelta(minutes=minutes))
    link = f"{state.settings.get('server', 'base_url').rstrip('/')}/password-reset/{raw}"
    name = user.display_name or user.username
    body = (f"Hello {name},\n\nsomeone (hopefully you) asked to reset the password of "
            f"your help desk account {user.username}.\n\nOpen this link within {minutes} minutes to choose a new "
            f"password:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it "
            "is.\n")
    return Rendered(to=user.email, to_name=name, subject="Reset your password", text=body)


def complete_reset(state: AppState, raw: str, password: str) -> None:
    """Set the new password, end every session, lift any lockout and send a notice.

    :raises core.auth.tokens.TokenError: for a bad token; ``PasswordRejected`` for a bad password.
    """
    token = tokens.peek(state.db, raw, PURPOSE)
    with state.db.session() as s:
        user = s.scalar(select(User).where(User.id == token.user_id))
        info = to_info(user) if user else None
    if info is None or not info.is_active:
        raise tokens.TokenError("unknown")
    problems = check_new_password(state, password, info.username)
    if problems:  # checked before the token is spent, so the user can try another password
        raise PasswordRejected(problems)
    tokens.consume(state.db, raw, PURPOSE)
    set_password(state, info, password, check_rules=False)
    end_all_sessions(state.db, info.id)
    state.lockout.clear(normalize_username(info.username))
    if info.email:
        state.ctx.mailer.send(info.email, "Your password was changed",
                              f"Hello {info.display_name or info.username},\n\nthe password of your help desk account "
                              f"{info.username} was just reset, and every session was logged out. If this was not "
                              "you, contact your help desk administrator now.\n",
                              to_name=info.display_name or info.username, related=f"user:{info.id}")
