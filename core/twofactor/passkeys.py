"""Passkeys and security keys (WebAuthn, via the ``webauthn`` package) as a second factor.

The relying party is ``server.base_url``: its host name is the RP ID and its origin the only accepted
origin (never the request's Host header). A user may register several keys, each with a name, and remove
them one by one. Challenges are made here and kept by the caller (the signed session cookie) until the
browser answers; each is used once.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

if TYPE_CHECKING:  # pragma: no cover
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from core.app_state import AppState
from core.db import rowcount
from core.models import utcnow
from core.twofactor.models import Passkey

NAME_MAX = 100
KEYS_MAX = 20


def bytes_to_base64url(value: bytes) -> str:
    """Unpadded base64url text (as ``webauthn.helpers.bytes_to_base64url``; the ``webauthn`` package itself is
    imported only when a passkey ceremony runs, which keeps ~14 MiB out of every serving worker)."""
    return urlsafe_b64encode(value).decode("utf-8").replace("=", "")


def base64url_to_bytes(value: str) -> bytes:
    """The bytes of base64url text, padded or not (as ``webauthn.helpers.base64url_to_bytes``)."""
    return urlsafe_b64decode(f"{value}===")


class PasskeyError(ValueError):
    """The browser's answer was refused; the message says why in plain words."""


def relying_party(state: AppState) -> tuple[str, str]:
    """``(rp_id, origin)`` from ``server.base_url``."""
    base = urlsplit(state.settings.get("server", "base_url"))
    return base.hostname or "localhost", f"{base.scheme}://{base.netloc}"


def _descriptors(rows: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    out = []
    for row in rows:
        transports = []
        for name in row.transports or []:
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue  # a transport this library version does not know
        out.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id),
                                                 transports=transports or None))
    return out


def keys_of(state: AppState, user_id: int) -> list[Passkey]:
    """The user's keys, oldest first."""
    with state.db.session() as s:
        return list(s.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)))


def registration_options(state: AppState, user_id: int, username: str, display_name: str) -> tuple[str, bytes]:
    """The ``PublicKeyCredentialCreationOptions`` JSON for ``navigator.credentials.create`` and its challenge."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    rp_id, _origin = relying_party(state)
    options = generate_registration_options(
        rp_id=rp_id, rp_name="plugdesk " + rp_id, user_name=username, user_id=f"plugdesk:{user_id}".encode(),
        user_display_name=display_name or username, exclude_credentials=_descriptors(keys_of(state, user_id)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    return options_to_json(options), options.challenge


def _parsed(credential: Any) -> dict[str, Any]:
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError:
            raise PasskeyError("The browser's answer could not be read.") from None
    if not isinstance(credential, dict):
        raise PasskeyError("The browser's answer could not be read.")
    return credential


def finish_registration(state: AppState, user_id: int, name: str, credential: Any, challenge: bytes) -> Passkey:
    """Verify the browser's answer to :func:`registration_options` and store the key under ``name``."""
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException

    name = " ".join((name or "").split())[:NAME_MAX] or "Passkey"
    rp_id, origin = relying_party(state)
    data = _parsed(credential)
    try:
        verified = verify_registration_response(credential=data, expected_challenge=challenge,
                                                expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"The key could not be registered ({exc}).") from None
    transports = data.get("response", {}).get("transports") if isinstance(data.get("response"), dict) else None
    with state.db.session() as s:
        if len(s.scalars(select(Passkey.id).where(Passkey.user_id == user_id)).all()) >= KEYS_MAX:
            raise PasskeyError(f"At most {KEYS_MAX} keys per account.")
        credential_id = bytes_to_base64url(verified.credential_id)
        if s.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
            raise PasskeyError("This key is registered already.")
        row = Passkey(user_id=user_id, credential_id=credential_id,
                      public_key=bytes_to_base64url(verified.credential_public_key), sign_count=verified.sign_count,
                      name=name, transports=[str(t) for t in transports][:8] if isinstance(transports, list) else None,
                      created_at=utcnow())
        s.add(row)
        s.flush()
        return row


def authentication_options(state: AppState, user_id: int) -> tuple[str, bytes] | None:
    """``PublicKeyCredentialRequestOptions`` JSON for ``navigator.credentials.get`` limited to the user's keys,
    and the challenge; ``None`` when the user has no key."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    rows = keys_of(state, user_id)
    if not rows:
        return None
    rp_id, _origin = relying_party(state)
    options = generate_authentication_options(rp_id=rp_id, allow_credentials=_descriptors(rows),
                                              user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json(options), options.challenge


def verify_assertion(state: AppState, user_id: int, credential: Any, challenge: bytes) -> Passkey | None:
    """Check the browser's answer to :func:`authentication_options`; the key used, or ``None``."""
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    rp_id, origin = relying_party(state)
    try:
        data = _parsed(credential)
        raw_id = data.get("rawId") or data.get("id")
        if not isinstance(raw_id, str):
            return None
        credential_id = bytes_to_base64url(base64url_to_bytes(raw_id))
    except (PasskeyError, ValueError, TypeError):
        return None
    with state.db.session() as s:
        row = s.scalar(select(Passkey).where(Passkey.user_id == user_id, Passkey.credential_id == credential_id))
    if row is None:
        return None
    try:
        verified = verify_authentication_response(
            credential=data, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=base64url_to_bytes(row.public_key), credential_current_sign_count=row.sign_count)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return None
    with state.db.session() as s:  # the counter only moves forward (a cloned key shows up as a refusal)
        s.execute(update(Passkey).where(Passkey.id == row.id)
                  .values(sign_count=verified.new_sign_count, last_used_at=utcnow()))
    return row


def rename(state: AppState, user_id: int, key_id: int, name: str) -> bool:
    """Give a key another name; ``False`` if the user has no such key."""
    name = " ".join((name or "").split())[:NAME_MAX]
    if not name:
        return False
    with state.db.session() as s:
        return bool(rowcount(s.execute(update(Passkey).where(Passkey.id == key_id, Passkey.user_id == user_id)
                                       .values(name=name))))


def remove(state: AppState, user_id: int, key_id: int | None = None) -> int:
    """Remove one key of the user (or all with ``key_id=None``); how many were removed."""
    stmt = delete(Passkey).where(Passkey.user_id == user_id)
    if key_id is not None:
        stmt = stmt.where(Passkey.id == key_id)
    with state.db.session() as s:
        return rowcount(s.execute(stmt))
