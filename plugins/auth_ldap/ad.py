"""Active Directory specifics: account flags, bind error codes, objectGUID, login name forms."""

from __future__ import annotations

import re
import uuid

from plugins.auth_ldap.config import ProviderConfig
from plugins.auth_ldap.directory import Entry

UAC_ACCOUNTDISABLE = 0x0002
UAC_LOCKOUT = 0x0010
UAC_PASSWORD_EXPIRED = 0x800000

# "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1"
_DATA = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")

BIND_ERRORS = {
    "525": "user not found",
    "52e": "invalid credentials",
    "530": "not permitted to log on at this time",
    "531": "not permitted to log on at this workstation",
    "532": "password expired",
    "533": "account disabled",
    "568": "too many security IDs (token too large)",
    "701": "account expired",
    "773": "user must reset password",
    "775": "account locked out",
}

ACCOUNT_ATTRIBUTES = ("userAccountControl", "msDS-User-Account-Control-Computed", "userPrincipalName",
                      "sAMAccountName")


def bind_error(message: str | None) -> tuple[str | None, str]:
    """Parse an AD bind failure message: ``(code, reason)``; ``(None, message)`` when it has no data code."""
    match = _DATA.search(message or "")
    if not match:
        return None, (message or "").strip() or "bind refused"
    code = match.group(1).lower().lstrip("0") or "0"
    return code, f"AD error {code}: {BIND_ERRORS.get(code, 'unknown reason')}"


def account_refusal(entry: Entry) -> str | None:
    """Why AD would refuse this account before we even try its password (``None`` when it looks usable)."""
    uac = _int(entry.first("userAccountControl"))
    computed = _int(entry.first("msDS-User-Account-Control-Computed"))
    if uac & UAC_ACCOUNTDISABLE:
        return f"account disabled (userAccountControl {uac:#x} has ACCOUNTDISABLE 0x2)"
    if computed & UAC_LOCKOUT:
        return "account locked out (msDS-User-Account-Control-Computed has LOCKOUT 0x10)"
    return None


def guid(entry: Entry, attribute: str = "objectGUID") -> str | None:
    """objectGUID as the canonical UUID string (AD stores it little-endian)."""
    raw = entry.raw_first(attribute)
    if isinstance(raw, bytes) and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    value = entry.first(attribute)
    if isinstance(value, str) and value.strip("{}"):
        try:
            return str(uuid.UUID(value.strip("{}")))
        except ValueError:
            return value
    return None


def login_name(cfg: ProviderConfig, username: str) -> str:
    """Accept ``user``, ``user@domain`` (UPN) and ``NETBIOS\\user``; return what goes into the filter."""
    if "\\" in username:
        prefix, _, rest = username.partition("\\")
        if cfg.netbios and prefix.upper() == cfg.netbios and rest and "\\" not in rest:
            return rest
    return username


def bind_name(cfg: ProviderConfig, entry: Entry | None, username: str) -> str:
    """The UPN to bind with: the entry's own UPN, else ``sAMAccountName@domain``."""
    if entry is not None:
        upn = entry.first("userPrincipalName")
        if upn:
            return str(upn)
        sam = entry.first("sAMAccountName")
        if sam:
            return f"{sam}@{cfg.domain}"
        return entry.dn
    name = login_name(cfg, username)
    return name if "@" in name else f"{name}@{cfg.domain}"


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
