"""One directory login provider: search, exactly one match, bind as that entry, build the identity."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Iterable
from typing import Any

from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from core import AuthResult, Identity, PluginContext, RequestInfo, Role
from plugins.auth_ldap import ad
from plugins.auth_ldap.config import ProviderConfig, normalize_dn
from plugins.auth_ldap.directory import (
    Directory,
    DirectoryUnavailable,
    Entry,
    SearchResult,
    ServiceBindFailed,
    network_error_types,
    run_search,
)

USERNAME_MAX = 256
_LOCAL_OK = re.compile(r"[^\w.@+-]")
_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]{2,}$")


def usable_username(username: str) -> str | None:
    """The login name if it can be a directory name, else ``None`` (then the provider defers).

    Refused: empty, leading/trailing whitespace, control characters (NUL...), over 256 characters.
    Everything else is allowed and escaped where it is used.
    """
    if not username or username != username.strip() or len(username) > USERNAME_MAX:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in username):
        return None
    return username


def fill_filter(template: str, **values: str) -> str:
    """Put RFC 4515-escaped values into a filter template (``{username}``, ``{dn}``)."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", escape_filter_chars(value))
    return out


def local_username(value: str, fallback: str) -> str:
    """A valid plugdesk username from a directory name: disallowed characters become ``_``."""
    name = _LOCAL_OK.sub("_", unicodedata.normalize("NFKC", value or "").strip())[:150]
    return name if name.strip("_") else fallback


class DirectoryProvider:
    """Login against one configured directory (``ProviderConfig``)."""

    def __init__(self, cfg: ProviderConfig, log: logging.Logger) -> None:
        self.cfg = cfg
        self.log = log
        self.directory = Directory(cfg)

    # ------------------------------------------------------------------ entry point
    def authenticate(self, username: str, password: str, request: RequestInfo,
                     ctx: PluginContext | None = None) -> AuthResult | None:
        """Return ok / denied / unavailable, or ``None`` when the directory has no such user."""
        started = time.monotonic()
        try:
            result, dn = self._authenticate(username, password, ctx)
        except Exception as exc:  # logged here with context, then core fails the login closed
            self._log(username, request, "error", f"{exc.__class__.__name__}: {exc}", None, started)
            raise
        outcome = "no_such_user" if result is None else result.status.value
        reason = "" if result is None else result.reason
        self._log(username, request, outcome, reason, dn, started)
        return result

    def _log(self, username: str, request: RequestInfo, outcome: str, reason: str, dn: str | None,
             started: float) -> None:
        event = {"event": "auth_ldap.login", "provider": self.cfg.name, "kind": self.cfg.kind,
                 "username": username, "outcome": outcome, "reason": reason, "dn": dn,
                 "remote_addr": request.remote_addr, "ms": round((time.monotonic() - started) * 1000, 1)}
        level = logging.WARNING if outcome in ("unavailable", "error") else logging.INFO
        self.log.log(level, "auth_ldap login provider=%s user=%r outcome=%s reason=%s dn=%s ms=%s",
                     self.cfg.name, username, outcome, reason or "-", dn or "-", event["ms"],
                     extra={"plugdesk": event})

    def _authenticate(self, username: str, password: str,
                      ctx: PluginContext | None) -> tuple[AuthResult | None, str | None]:
        cfg = self.cfg
        name = usable_username(username)
        if name is None or not password or not password.strip():
            return None, None  # never sent to the directory (an empty password would be an anonymous bind)
        if cfg.kind == "ad":
            name = ad.login_name(cfg, name)
        if self.directory.all_down():
            return AuthResult.unavailable(f"every server of {cfg.name!r} failed in the last "
                                          f"{cfg.retry_down_after:g} s; not retrying yet"), None
        try:
            if cfg.bind_first:
                return self._bind_first(name, password, ctx)
            found = self.lookup(name)
        except (DirectoryUnavailable, ServiceBindFailed) as exc:
            return AuthResult.unavailable(str(exc)), None
        if not found.entries:
            return None, None
        if len(found.entries) > 1 or found.truncated:
            dns = "; ".join(e.dn for e in found.entries)
            return AuthResult.denied(f"ambiguous: the user filter matches more than one entry ({dns}); "
                                     "refusing to guess"), None
        entry = found.entries[0]
        if cfg.kind == "ad":
            refusal = ad.account_refusal(entry)
            if refusal:
                return AuthResult.denied(refusal + "; refused before bind"), entry.dn
        bind_as = ad.bind_name(cfg, entry, name) if cfg.kind == "ad" else entry.dn
        try:
            conn, result = self.directory.user_bind(None, bind_as, password)
        except DirectoryUnavailable as exc:
            return AuthResult.unavailable(str(exc)), entry.dn
        if conn is None:
            return AuthResult.denied(self.bind_failure(result)), entry.dn
        self.directory.release(conn)
        try:
            groups = self.groups(entry, None)
        except (DirectoryUnavailable, ServiceBindFailed) as exc:
            return AuthResult.unavailable(f"group lookup failed: {exc}"), entry.dn
        return self._identity(entry, name, groups, ctx), entry.dn

    def _bind_first(self, name: str, password: str,
                    ctx: PluginContext | None) -> tuple[AuthResult | None, str | None]:
        """No service account: bind as the user (DN template or AD UPN), then read the entry as that user."""
        cfg = self.cfg
        if cfg.user_dn_template:
            bind_as = cfg.user_dn_template.replace("{username}", escape_rdn(name))
        else:
            bind_as = ad.bind_name(cfg, None, name)
        conn, result = self.directory.user_bind(None, bind_as, password)
        if conn is None:
            code, _reason = ad.bind_error(result.get("message"))
            if code in (None, "525", "52e"):  # unknown user or wrong password: without a search we cannot tell,
                return None, None             # so let the next provider try (core answers generically anyway)
            return AuthResult.denied(self.bind_failure(result)), bind_as
        try:
            if cfg.user_dn_template:
                found = run_search(conn, bind_as, "(objectClass=*)", self.attributes(), scope="base")
            else:
                flt = fill_filter(cfg.user_filter, username=name)
                found = run_search(conn, cfg.base_dn, flt, self.attributes(), scope=cfg.search_scope)
            entry = found.entries[0] if len(found.entries) == 1 else None
            groups = self.groups(entry, conn) if entry is not None else []
        except (*network_error_types(), LDAPException) as exc:
            _unbind(conn)
            return AuthResult.unavailable(str(exc)), bind_as
        self.directory.release(conn)
        if entry is None:
            return AuthResult.denied(f"bind as {bind_as!r} succeeded but {len(found.entries)} entries were "
                                     "found for it"), bind_as
        return self._identity(entry, name, groups, ctx), entry.dn

    # ------------------------------------------------------------------ pieces (also used by the connection test)
    def attributes(self) -> list[str]:
        """Attributes read from the user entry."""
        attrs = set(self.cfg.attributes.values()) | {"cn"}
        if self.cfg.kind == "ad":
            attrs |= set(ad.ACCOUNT_ATTRIBUTES)
        return sorted(attrs)

    def lookup(self, name: str) -> SearchResult:
        """Search for ``name`` with the service connection (at most 2 entries are asked for)."""
        flt = fill_filter(self.cfg.user_filter, username=name)
        return self.directory.search(self.cfg.base_dn, flt, self.attributes(), scope=self.cfg.search_scope)

    def groups(self, entry: Entry, conn: Any) -> list[str]:
        """The user's group DNs: from a group search (``group_base_dn``/nested AD groups) or ``memberOf``."""
        cfg = self.cfg
        if not cfg.role_map and not cfg.required_groups:
            return [str(g) for g in entry.all(cfg.attributes["groups"])]
        base = cfg.group_base_dn or (cfg.base_dn if cfg.kind == "ad" and cfg.nested_groups else None)
        if base is None:
            return [str(g) for g in entry.all(cfg.attributes["groups"])]
        uid = str(entry.first(cfg.attributes["username"]) or "")
        flt = fill_filter(cfg.group_filter, dn=entry.dn, username=uid)
        if conn is not None:
            found = run_search(conn, base, flt, ["cn"], size_limit=1000)
        else:
            found = self.directory.search(base, flt, ["cn"], size_limit=1000)
        return [e.dn for e in found.entries] + [str(g) for g in entry.all(cfg.attributes["groups"])]

    def role(self, groups: Iterable[str]) -> Role | None:
        """Highest role mapped from the groups; ``"user"`` when a map exists but nothing matches."""
        if not self.cfg.role_map:
            return None
        best = Role.USER
        for key in group_keys(groups):
            role = self.cfg.role_map.get(key)
            if role and role.rank > best.rank:
                best = role
        return best

    def external_id(self, entry: Entry) -> str | None:
        """The stable id (entryUUID / objectGUID) the local profile is linked by."""
        attr = self.cfg.attributes["external_id"]
        if attr.lower() == "objectguid":
            return ad.guid(entry, attr)
        value = entry.first(attr)
        return str(value) if value not in (None, "") else None

    def bind_failure(self, result: dict[str, Any]) -> str:
        """The admin-facing reason for a refused user bind."""
        message = result.get("message") or ""
        if self.cfg.kind == "ad":
            code, reason = ad.bind_error(message)
            if code:
                return reason
        return f"bind refused: {result.get('description')} ({result.get('result')}) {message}".strip()

    def _identity(self, entry: Entry, name: str, groups: list[str], ctx: PluginContext | None) -> AuthResult:
        cfg = self.cfg
        external_id = self.external_id(entry)
        if not external_id:
            return AuthResult.denied(f"entry {entry.dn!r} has no {cfg.attributes['external_id']} value; set "
                                     "attributes.external_id to a stable unique attribute")
        if cfg.required_groups and not set(group_keys(groups)) & set(cfg.required_groups):
            return AuthResult.denied("not a member of any of required_groups")
        directory_name = str(entry.first(cfg.attributes["username"]) or name)
        username = local_username(directory_name, f"{cfg.name}_{external_id[:8]}")
        if ctx is not None:
            existing = ctx.users.find(username)
            if existing is not None and existing.provider != cfg.name:
                return AuthResult.denied(f"the local username {username!r} already belongs to an account of "
                                         f"provider {existing.provider!r}; rename one of them")
        email = str(entry.first(cfg.attributes["email"]) or "").strip()
        if email and not _EMAIL.match(email):
            self.log.warning("auth_ldap provider=%s: ignoring malformed %s %r of %s", cfg.name,
                             cfg.attributes["email"], email, entry.dn)
            email = ""
        display = str(entry.first(cfg.attributes["display_name"]) or entry.first("cn") or directory_name)
        return AuthResult.ok(Identity(provider=cfg.name, username=username, external_id=external_id, email=email,
                                      display_name=display[:200], email_verified=bool(email),
                                      role=self.role(groups), groups=tuple(groups)))


def group_keys(groups: Iterable[str]) -> list[str]:
    """Keys a role map can use for each group: its normalised DN and its lower-case CN."""
    keys = []
    for group in groups:
        keys.append(normalize_dn(group))
        try:
            first = parse_dn(group, strip=True)[0]
            keys.append(first[1].strip().lower())
        except Exception:  # noqa: BLE001 - a malformed DN simply has no CN key
            keys.append(group.strip().lower())
    return keys


def _unbind(conn: Any) -> None:
    try:
        conn.unbind()
    except Exception:  # noqa: BLE001
        pass
