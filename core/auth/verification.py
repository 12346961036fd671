"""Email verification: single-use links for new accounts and for address changes.

A new address takes effect only when its link is followed; the old address gets a notice. Links are built
from ``server.base_url``. Opening a link while logged in as someone else verifies nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

from core.app_state import AppState
from core.auth import tokens
from core.mail import MailError
from core.models import User
from core.types import UserInfo
from core.users import AccountError, normalize_email, to_info

log = logging.getLogger("plugdesk.auth.verification")
PURPOSE = "verify_email"
RESEND_LIMIT = 3  # per user per hour


def send_verification(state: AppState, user: UserInfo, address: str | None = None) -> bool:
    """Email a verification link for ``address`` (default: the user's current address)."""
    address = address or user.email
    if not address:
        return False
    hours = state.runtime.get("security.email_verification.token_hours")
    raw = tokens.issue(state.db, user.id, PURPOSE, timedelta(hours=hours), data={"email": address})
    link = f"{state.settings.get('server', 'base_url').rstrip('/')}/verify-email/{raw}"
    body = (f"Hello {user.display_name or user.username},\n\nplease confirm that {address} is your email address "
            f"for the help desk account {user.username} by opening this link within {hours} hours:\n\n{link}\n\n"
            "If you did not ask for this, ignore this message.\n")
    try:
        state.ctx.mailer.send(address, "Confirm your email address", body)
    except MailError as exc:
        log.error("verification mail for user %s failed: %s", user.id, exc)
        return False
    return True


def resend_allowed(state: AppState, user_id: int) -> bool:
    """At most ``RESEND_LIMIT`` resends per user per hour."""
    return state.ctx.limits.hit(f"verify-resend:{user_id}", 3600) <= RESEND_LIMIT


def confirm(state: AppState, raw: str, logged_in: UserInfo | None) -> UserInfo:
    """Verify the address a token was issued for.

    :raises tokens.TokenError: unknown/used/expired token, or a token of another account than the one logged in.
    :raises AccountError: the address was taken by another account meanwhile.
    """
    token = tokens.peek(state.db, raw, PURPOSE)
    if logged_in is not None and logged_in.id != token.user_id:
        raise tokens.TokenError("belongs to another account")
    address = (token.data or {}).get("email", "")
    shown, key = normalize_email(address)
    with state.db.session() as s:
        if s.scalar(select(func.count()).select_from(User).where(User.email_key == key, User.id != token.user_id)):
            raise AccountError("email", "This address cannot be used for your account any more.")
    tokens.consume(state.db, raw, PURPOSE)
    with state.db.session() as s:
        user = s.get(User, token.user_id)
        if user is None:
            raise tokens.TokenError("unknown")
        old = user.email
        user.email, user.email_key, user.email_verified = shown, key, True
        info = to_info(user)
    if old and old != shown:
        try:
            state.ctx.mailer.send(old, "Your email address was changed",
                                  f"Hello {info.display_name or info.username},\n\nthe email address of your help desk "
                                  f"account {info.username} is now {shown}. If this was not you, contact your "
                                  "help desk administrator now.\n")
        except MailError as exc:
            log.error("address change notice for user %s failed: %s", info.id, exc)
    return info


def request_change(state: AppState, user: UserInfo, new_address: str) -> None:
    """Send a link to ``new_address``; refuse an address another account uses, without saying which."""
    shown, key = normalize_email(new_address)
    with state.db.session() as s:
        taken = s.scalar(select(func.count()).select_from(User).where(User.email_key == key, User.id != user.id))
    if taken:
        raise AccountError("email", "This address cannot be used. Choose another one.")
    if key == normalize_email(user.email)[1] if user.email else False:
        raise AccountError("email", "This is already your address.")
    if not send_verification(state, user, shown):
        raise AccountError("email", "The confirmation email could not be sent. Please try again later.")


NEEDS_VERIFIED = ("Please confirm your email address first: open the link we emailed you (you can have it sent "
                  "again from your profile).")


def verified_email_required(state: AppState, user: UserInfo | None) -> str | None:
    """The message to show when ``security.require_verified_email`` stops ``user`` from posting, else ``None``.

    Staff are never stopped; guests are when the switch is on (they cannot prove an address).
    """
    if not state.runtime.get("security.require_verified_email"):
        return None
    if user is not None and (user.verified or user.role != "user"):
        return None
    return NEEDS_VERIFIED
