"""Email verification: single-use links for new accounts and for address changes.

A new address takes effect only when its link is followed; the old address gets a notice. Links are built
from ``server.base_url``. Opening a link while logged in as someone else verifies nothing.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.app_state import AppState
from core.auth import tokens
from core.models import User
from core.types import UserInfo
from core.users import AccountError, address_taken, normalize_email, to_info

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session

    from core.outbox.render import Rendered

log = logging.getLogger("plugdesk.auth.verification")
PURPOSE = "verify_email"
RESEND_LIMIT = 3  # per user per hour


def send_verification(state: AppState, user: UserInfo, address: str | None = None, *,
                      session: Session | None = None) -> bool:
    """Queue a verification link for ``address`` (default: the user's current address).

    The token is issued by the worker when it sends the message (:func:`render_verification_mail`), so the
    raw token is never stored. Returns ``False`` when there is no address.

    :param session: the transaction of the event that asks for the link (a registration); default: its own.
    """
    address = address or user.email
    if not address:
        return False
    from core.outbox.service import enqueue

    with nullcontext(session) if session is not None else state.db.session() as s:
        enqueue(s, state.settings, kind=PURPOSE, payload={"user_id": user.id, "email": address}, to=address,
                to_name=user.display_name or user.username, subject="Confirm your email address",
                related=f"user:{user.id}")
    return True


def render_verification_mail(state: AppState, payload: dict[str, Any]) -> Rendered | None:
    """Send time: issue the token for the address and write the message (``None`` if the account is gone)."""
    from core.outbox.render import Rendered

    address = str(payload.get("email", ""))
    with state.db.session() as s:
        row = s.get(User, int(payload.get("user_id") or 0))
        user = to_info(row) if row is not None and row.is_active else None
    if user is None or not address:
        return None
    hours = state.runtime.get("security.email_verification.token_hours")
    raw = tokens.issue(state.db, user.id, PURPOSE, timedelta(hours=hours), data={"email": address})
    link = f"{state.settings.get('server', 'base_url').rstrip('/')}/verify-email/{raw}"
    name = user.display_name or user.username
    body = (f"Hello {name},\n\nplease confirm that {address} is your email address "
            f"for the help desk account {user.username} by opening this link within {hours} hours:\n\n{link}\n\n"
            "If you did not ask for this, ignore this message.\n")
    return Rendered(to=address, to_name=name, subject="Confirm your email address", text=body)


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
        if address_taken(s, key, token.user_id):
            raise AccountError("email", "This address cannot be used for your account any more.")
    tokens.consume(state.db, raw, PURPOSE)
    with state.db.session() as s:
        user = s.get(User, token.user_id)
        if user is None:
            raise tokens.TokenError("unknown")
        old = user.email
        user.email, user.email_key, user.email_verified = shown, key, True
        info = to_info(user)
        if old and old != shown:  # the notice commits with the change itself
            from core.outbox.service import enqueue

            name = info.display_name or info.username
            enqueue(s, state.settings, to=old, to_name=name, subject="Your email address was changed",
                    text=f"Hello {name},\n\nthe email address of your help desk account {info.username} is now "
                         f"{shown}. If this was not you, contact your help desk administrator now.\n",
                    related=f"user:{info.id}")
    return info


def request_change(state: AppState, user: UserInfo, new_address: str) -> None:
    """Send a link to ``new_address``; refuse an address another account uses, without saying which."""
    shown, key = normalize_email(new_address)
    with state.db.session() as s:
        taken = address_taken(s, key, user.id)
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
