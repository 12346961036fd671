"""Authenticator apps (TOTP, RFC 6238, via pyotp): enrol with a QR code, verify codes once.

Codes are 6 digits for 30-second steps; the step before and after the current one are accepted (clock
drift). A code that was accepted once is refused a second time: the step it belongs to is claimed in the
shared counter store (``[limits] storage``: Redis on many nodes), so replaying a code seen over a shoulder
fails on every node.
"""

from __future__ import annotations

import base64
import hmac
import io
import time
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from core.app_state import AppState
from core.db import rowcount
from core.models import utcnow
from core.twofactor.models import TotpSecret

STEP = 30
WINDOW = 1  # steps accepted on either side of the current one
USED_TTL = STEP * (2 * WINDOW + 2)  # a claimed step is remembered past the end of its acceptance window


def now() -> float:
    """The clock codes are checked against (tests replace it)."""
    return time.time()


def issuer(state: AppState) -> str:
    """The name shown in the authenticator app: the help desk's host name."""
    return urlsplit(state.settings.get("server", "base_url")).hostname or "plugdesk"


def clean(code: str | None) -> str:
    """The digits of a typed code (spaces and dashes are allowed); ``""`` when it cannot be a code."""
    digits = "".join(ch for ch in (code or "")[:20] if ch not in " -")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else ""


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code ``code`` is (current step ±1), or ``None``."""
    code = clean(code)
    if not code:
        return None
    import pyotp  # imported on first use: a serving worker that never checks a code does not carry it

    totp = pyotp.TOTP(secret, interval=STEP)
    current = int((now() if at is None else at) // STEP)
    found = None
    for step in (current - WINDOW, current, current + WINDOW):  # compare all: no early exit on a match
        if hmac.compare_digest(totp.at(step * STEP), code):
            found = step
    return found


def qr_data_uri(uri: str) -> str:
    """An SVG QR code of ``uri`` as a ``data:`` URI (images may be inline under the CSP; scripts may not)."""
    import qrcode  # imported on first enrolment, not in every worker
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def begin(state: AppState, user_id: int, account_name: str) -> dict[str, str]:
    """Start (or restart) an enrolment: a new unconfirmed secret; the QR code and URI to show.

    :raises ValueError: the user already has a confirmed authenticator app (turn it off first).
    """
    import pyotp

    secret = pyotp.random_base32()
    with state.db.session() as s:
        row = s.get(TotpSecret, user_id)
        if row is not None and row.confirmed_at is not None:
            raise ValueError("An authenticator app is already set up. Turn it off first to replace it.")
        if row is None:
            s.add(TotpSecret(user_id=user_id, secret=secret, created_at=utcnow()))
        else:
            row.secret, row.created_at = secret, utcnow()
    uri = pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=account_name, issuer_name=issuer(state))
    return {"secret": secret, "uri": uri, "qr": qr_data_uri(uri)}


def pending_secret(state: AppState, user_id: int) -> str | None:
    """The secret of an enrolment in progress (to show the QR code again), if any."""
    with state.db.session() as s:
        row = s.get(TotpSecret, user_id)
        return row.secret if row is not None and row.confirmed_at is None else None


def _claim(state: AppState, user_id: int, step: int) -> bool:
    """Mark ``step`` used for ``user_id``; ``False`` when it was used already (on any node)."""
    return state.lockout.store.claim(f"totp:used:{user_id}:{step}", USED_TTL)


def confirm(state: AppState, user_id: int, code: str) -> bool:
    """Finish the enrolment with a code from the app; ``False`` for a wrong (or replayed) code."""
    secret = pending_secret(state, user_id)
    step = matching_step(secret, code) if secret else None
    if step is None or not _claim(state, user_id, step):
        return False
    with state.db.session() as s:
        done = s.execute(update(TotpSecret).where(TotpSecret.user_id == user_id, TotpSecret.secret == secret,
                                                  TotpSecret.confirmed_at.is_(None))
                         .values(confirmed_at=utcnow()))
        return bool(rowcount(done))


def verify(state: AppState, user_id: int, code: str) -> bool:
    """Check a login code against the confirmed secret; each code works once."""
    with state.db.session() as s:
        secret = s.scalar(select(TotpSecret.secret).where(TotpSecret.user_id == user_id,
                                                          TotpSecret.confirmed_at.is_not(None)))
    step = matching_step(secret, code) if secret else None
    return step is not None and _claim(state, user_id, step)  # the login itself is recorded by the caller


def remove(state: AppState, user_id: int) -> bool:
    """Turn the authenticator app off (or drop an unfinished enrolment); ``True`` if there was one."""
    with state.db.session() as s:
        return bool(rowcount(s.execute(delete(TotpSecret).where(TotpSecret.user_id == user_id))))
