"""Parse and validate ``[plugins.auth_oidc]``: one :class:`ProviderConfig` per ``[[plugins.auth_oidc.providers]]``.

The tables are pydantic models validated through core's schema helper (:func:`core.parse_plugin_config`);
every mistake stops startup with a :class:`core.PluginConfigError` naming the key (``providers[0].issuer``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from core import ConfigModel, PluginConfigError, explain, parse_plugin_config

ROLE_RANK = {"user": 0, "agent": 1, "manager": 2, "admin": 3}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
#: Authorization parameters core or this plugin set themselves; ``authorize_params`` may not override them.
RESERVED_PARAMS = frozenset({"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                             "code_challenge", "code_challenge_method", "response_mode"})


@dataclass(frozen=True)
class ProviderConfig:
    """One configured OpenID Connect provider (an auth provider called ``name``)."""

    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    token_auth_method: str
    username_claim: str
    groups_claim: str
    role_map: Mapping[str, str]
    require_email: bool
    verified_emails_only: bool
    allowed_domains: tuple[str, ...]
    link_existing: str
    logout: bool
    clock_skew_seconds: int
    timeout_seconds: float
    ca_file: str | None
    authorize_params: Mapping[str, str]
    trust_provider_mfa: bool = False

    @property
    def discovery_url(self) -> str:
        """``ISSUER/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0, section 4)."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def role(self, groups: list[str]) -> str | None:
        """Highest role mapped from ``groups``; ``"user"`` when a map exists but nothing matches."""
        if not self.role_map:
            return None
        best = "user"
        for group in groups:
            role = self.role_map.get(group.strip().lower())
            if role and ROLE_RANK[role] > ROLE_RANK[best]:
                best = role
        return best


@dataclass(frozen=True)
class OidcConfig:
    """The whole plugin configuration: the providers in the order their buttons appear."""

    providers: tuple[ProviderConfig, ...] = ()

    def get(self, name: str) -> ProviderConfig | None:
        """The provider called ``name``, if configured."""
        return next((p for p in self.providers if p.name == name), None)


def _checked_name(name: str) -> str:
    if not _NAME.match(name) or name == "local":
        raise ValueError("use 1-40 lower-case letters, digits, '_' or '-', starting with a letter (not 'local')")
    return name


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_issuer(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment \
            or parts.username:
        raise ValueError(f"{url!r} is not an issuer URL such as 'https://id.example.com/realms/staff'")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"{url!r}: an issuer must use https:// (plain http:// only on a loopback address)")
    return url  # kept exactly: the discovery document's "issuer" and every ID token's "iss" must equal it


def _checked_domain(domain: str) -> str:
    domain = domain.strip().lower().lstrip("@")
    if not _DOMAIN.match(domain):
        raise ValueError(f"{domain!r} is not a DNS domain such as 'example.com'")
    return domain


def _strings(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Flag = Annotated[bool, explain("expected true or false, got {got}")]
Claim = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_:./-]+$"),
                  explain("expected a claim name such as 'preferred_username', got {got}")]
Role = Annotated[Literal["user", "agent", "manager", "admin"],
                 explain(f"got {{got}}; expected one of {', '.join(ROLE_RANK)}")]


class ProviderTable(ConfigModel):
    """One ``[[plugins.auth_oidc.providers]]`` table as written."""

    name: Annotated[str, Field(min_length=1), AfterValidator(_checked_name)]
    label: str | None = None
    issuer: Annotated[str, AfterValidator(_checked_issuer)]
    client_id: Annotated[str, Field(min_length=1, max_length=500)]
    client_secret: str = Field("", repr=False)
    scopes: Annotated[list[Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]], BeforeValidator(_strings),
                      explain("expected a list of scope names such as [\"openid\", \"email\"]")] = \
        ["openid", "email", "profile"]
    token_auth_method: Annotated[Literal["client_secret_basic", "client_secret_post", "none"],
                                 explain("got {got}; expected 'client_secret_basic', 'client_secret_post' or "
                                         "'none' (a public client)")] = "client_secret_basic"
    username_claim: Claim = "preferred_username"
    groups_claim: Claim = "groups"
    role_map: dict[str, Role] = {}
    require_email: Flag = True
    verified_emails_only: Flag = False
    allowed_domains: Annotated[list[Annotated[str, AfterValidator(_checked_domain)]], BeforeValidator(_strings)] = []
    link_existing: Annotated[Literal["password", "never"],
                             explain("got {got}; expected 'password' (link after the account's password is "
                                     "proven) or 'never'")] = "never"
    logout: Flag = True
    clock_skew_seconds: Annotated[int, Field(ge=0, le=600),
                                  explain("expected whole seconds between 0 and 600, got {got}")] = 60
    timeout_seconds: Annotated[float, Field(gt=0, le=60),
                               explain("expected a number of seconds between 0 and 60, got {got}")] = 10.0
    ca_file: str = ""
    authorize_params: dict[str, str] = {}
    trust_provider_mfa: Flag = False


class OidcTable(ConfigModel):
    """``[plugins.auth_oidc]``: the providers, in the order of their buttons."""

    providers: list[ProviderTable] = []


def parse(raw: Mapping[str, Any], source: str | None = None) -> OidcConfig:
    """Validate the raw table; a relative ``ca_file`` is resolved against ``source``'s folder."""
    table = parse_plugin_config(OidcTable, raw)
    base = Path(source).parent if source else Path.cwd()
    providers = tuple(_provider(item, f"providers[{i}]", base) for i, item in enumerate(table.providers))
    names = [p.name for p in providers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise PluginConfigError(f"providers[{i}].name", f"{name!r} is used twice; each provider needs its own name")
    return OidcConfig(providers)


def _provider(t: ProviderTable, where: str, base: Path) -> ProviderConfig:
    def err(key: str, message: str) -> PluginConfigError:
        return PluginConfigError(f"{where}.{key}", message)

    if "openid" not in t.scopes:
        raise err("scopes", "must include 'openid' (this is an OpenID Connect login)")
    if t.token_auth_method != "none" and not t.client_secret:
        raise err("client_secret", "is required (use { \"$env\" = \"NAME\" } or { \"$file\" = \"path\" }), unless "
                                   "token_auth_method = 'none' for a public client")
    reserved = sorted(set(t.authorize_params) & RESERVED_PARAMS)
    if reserved:
        raise err("authorize_params", f"{reserved[0]!r} is set by plugdesk itself; remove it")
    ca_file = None
    if t.ca_file:
        path = Path(t.ca_file) if Path(t.ca_file).is_absolute() else base / t.ca_file
        if not path.is_file():
            raise err("ca_file", f"{path} does not exist or is not a file")
        ca_file = str(path)
    return ProviderConfig(
        name=t.name, label=(t.label or t.name).strip() or t.name, issuer=t.issuer, client_id=t.client_id,
        client_secret=t.client_secret, scopes=tuple(dict.fromkeys(t.scopes)), token_auth_method=t.token_auth_method,
        username_claim=t.username_claim, groups_claim=t.groups_claim,
        role_map={group.strip().lower(): role for group, role in t.role_map.items()},
        require_email=t.require_email, verified_emails_only=t.verified_emails_only,
        allowed_domains=tuple(t.allowed_domains), link_existing=t.link_existing, logout=t.logout,
        clock_skew_seconds=t.clock_skew_seconds, timeout_seconds=float(t.timeout_seconds), ca_file=ca_file,
        authorize_params=dict(t.authorize_params), trust_provider_mfa=t.trust_provider_mfa)
