"""Parse and validate ``[plugins.auth_ldap]``: one :class:`ProviderConfig` per ``[[plugins.auth_ldap.providers]]``.

Every mistake stops startup with :class:`core.types.PluginConfigError` naming the key
(``providers[0].user_filter``) and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidDnError, LDAPInvalidFilterError
from ldap3.operation.search import parse_filter
from ldap3.utils.dn import parse_dn

from core.types import PluginConfigError

KINDS = ("ldap", "ad")
ROLE_RANK = {"user": 0, "agent": 1, "manager": 2, "admin": 3}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")

LDAP_FILTER = "(uid={username})"
AD_FILTER = ("(&(objectCategory=person)(objectClass=user)"
             "(|(sAMAccountName={username})(userPrincipalName={username})))")
LDAP_GROUP_FILTER = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
AD_NESTED_GROUP_FILTER = "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))"

DEFAULT_ATTRIBUTES = {
    "ldap": {"username": "uid", "email": "mail", "display_name": "cn", "groups": "memberOf",
             "external_id": "entryUUID"},
    "ad": {"username": "sAMAccountName", "email": "mail", "display_name": "displayName", "groups": "memberOf",
           "external_id": "objectGUID"},
}

TOP_KEYS = {"providers"}
PROVIDER_KEYS = {
    "name", "kind", "label", "urls", "start_tls", "ca_file", "tls_verify", "allow_plaintext", "connect_timeout",
    "receive_timeout", "retry_down_after", "bind_dn", "bind_password", "anonymous_search", "base_dn",
    "user_filter", "user_dn_template", "search_scope", "attributes", "group_base_dn", "group_filter",
    "nested_groups", "role_map", "required_groups", "domain", "ou", "netbios",
}


@dataclass(frozen=True)
class ServerSpec:
    """One directory server of a provider's pool."""

    url: str
    host: str
    port: int
    use_ssl: bool


@dataclass(frozen=True)
class ProviderConfig:
    """One configured directory (an auth provider named ``name``)."""

    name: str
    kind: str
    label: str
    servers: tuple[ServerSpec, ...]
    start_tls: bool
    ca_file: str | None
    tls_verify: bool
    allow_plaintext: bool
    connect_timeout: float
    receive_timeout: float
    retry_down_after: float
    bind_dn: str
    bind_password: str = field(repr=False)
    anonymous_search: bool
    base_dn: str
    user_filter: str
    user_dn_template: str | None
    search_scope: str
    attributes: Mapping[str, str]
    group_base_dn: str | None
    group_filter: str
    nested_groups: bool
    role_map: Mapping[str, str]  # normalised group DN or lower-case CN -> role
    required_groups: tuple[str, ...]
    domain: str | None
    netbios: str | None

    @property
    def bind_first(self) -> bool:
        """No search before the bind: DN template (LDAP) or UPN bind (AD without service account)."""
        return bool(self.user_dn_template) or (self.kind == "ad" and not self.bind_dn)

    @property
    def encrypted(self) -> bool:
        """True when every server is reached over LDAPS or StartTLS."""
        return self.start_tls or all(s.use_ssl for s in self.servers)


@dataclass(frozen=True)
class LdapConfig:
    """The whole plugin configuration: providers in the order they are tried."""

    providers: tuple[ProviderConfig, ...] = ()

    def get(self, name: str) -> ProviderConfig | None:
        """The provider called ``name``, if configured."""
        return next((p for p in self.providers if p.name == name), None)


def normalize_dn(dn: str) -> str:
    """Compare DNs case-insensitively, ignoring spaces around separators."""
    try:
        return ",".join(f"{a.strip().lower()}={v.strip().lower()}" for a, v, _sep in parse_dn(dn, strip=True))
    except (LDAPInvalidDnError, ValueError, IndexError):
        return dn.strip().lower()


def parse(raw: Mapping[str, Any], source: str | None = None) -> LdapConfig:
    """Validate the raw table; relative ``ca_file`` paths are resolved against ``source``'s folder."""
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise PluginConfigError(sorted(unknown)[0], "unknown key; [plugins.auth_ldap] accepts 'providers' "
                                                    "(an array of tables: [[plugins.auth_ldap.providers]])")
    items = raw.get("providers", [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise PluginConfigError("providers", "must be an array of tables ([[plugins.auth_ldap.providers]])")
    base = Path(source).parent if source else Path.cwd()
    providers = tuple(_provider(item, f"providers[{i}]", base) for i, item in enumerate(items))
    names = [p.name for p in providers]
    for name in names:
        if names.count(name) > 1:
            raise PluginConfigError(f"providers[{names.index(name, names.index(name) + 1)}].name",
                                    f"{name!r} is used twice; each provider needs its own name")
    return LdapConfig(providers)


def _provider(item: Mapping[str, Any], where: str, base: Path) -> ProviderConfig:
    def err(key: str, message: str) -> PluginConfigError:
        return PluginConfigError(f"{where}.{key}", message)

    unknown = set(item) - PROVIDER_KEYS
    if unknown:
        raise err(sorted(unknown)[0], f"unknown key; accepted keys: {', '.join(sorted(PROVIDER_KEYS))}")
    r = _Reader(item, err)
    name = r.text("name", required=True)
    if not _NAME.match(name) or name == "local":
        raise err("name", "use 1-40 lower-case letters, digits, '_' or '-', starting with a letter (not 'local')")
    kind = r.text("kind", "ldap")
    if kind not in KINDS:
        raise err("kind", f"got {kind!r}; expected 'ldap' or 'ad'")
    domain = netbios = None
    if kind == "ad":
        domain = r.text("domain", required=True).lower().strip(".")
        if not _DOMAIN.match(domain):
            raise err("domain", f"{domain!r} is not a DNS domain name such as 'example.com'")
        netbios = r.text("netbios", domain.split(".")[0]).upper()
    start_tls = r.flag("start_tls", False)
    servers = _servers(r, err, kind, domain, start_tls)
    tls_verify = r.flag("tls_verify", True)
    ca_file = r.text("ca_file", "") or None
    if ca_file:
        path = Path(ca_file) if Path(ca_file).is_absolute() else base / ca_file
        if not path.is_file():
            raise err("ca_file", f"{path} does not exist or is not a file")
        ca_file = str(path)
    allow_plaintext = r.flag("allow_plaintext", False)
    if not start_tls and not all(s.use_ssl for s in servers) and not allow_plaintext:
        raise err("urls", "ldap:// without start_tls sends passwords in clear text; use ldaps://, set "
                          "start_tls = true, or (test setups only) allow_plaintext = true")
    bind_dn = r.text("bind_dn", "")
    bind_password = r.text("bind_password", "")
    if bind_dn and not bind_password:
        raise err("bind_password", "bind_dn is set but bind_password is empty (use { \"$env\" = \"NAME\" } or "
                                   "{ \"$file\" = \"path\" } for the secret)")
    anonymous = r.flag("anonymous_search", False)
    template = r.text("user_dn_template", "") or None
    if kind == "ldap" and not bind_dn and not anonymous and not template:
        raise err("bind_dn", "set bind_dn + bind_password (service account), anonymous_search = true, or "
                             "user_dn_template")
    if template is not None:
        if kind != "ldap":
            raise err("user_dn_template", "only for kind = 'ldap'")
        if "{username}" not in template:
            raise err("user_dn_template", "must contain {username}")
        _check_dn(template.replace("{username}", "x"), err, "user_dn_template")
    if kind == "ad":
        ou = r.text("ou", "")
        dc = ",".join(f"DC={part}" for part in domain.split("."))  # type: ignore[union-attr]
        derived = (_ou_dn(ou, err) + "," if ou else "") + dc
        base_dn = r.text("base_dn", derived)
    else:
        base_dn = r.text("base_dn", required=True)
    _check_dn(base_dn, err, "base_dn")
    user_filter = r.text("user_filter", AD_FILTER if kind == "ad" else LDAP_FILTER)
    _check_filter(user_filter, err, "user_filter", needs=("{username}",))
    group_filter = r.text("group_filter", AD_NESTED_GROUP_FILTER if kind == "ad" else LDAP_GROUP_FILTER)
    _check_filter(group_filter, err, "group_filter", needs=())
    group_base_dn = r.text("group_base_dn", "") or None
    if group_base_dn:
        _check_dn(group_base_dn, err, "group_base_dn")
    scope = r.text("search_scope", "subtree")
    if scope not in ("subtree", "one"):
        raise err("search_scope", "expected 'subtree' or 'one'")
    attributes = dict(DEFAULT_ATTRIBUTES[kind])
    for key, value in r.table("attributes").items():
        if key not in attributes:
            raise err(f"attributes.{key}", f"unknown attribute key; accepted: {', '.join(attributes)}")
        if not isinstance(value, str) or not re.match(r"^[A-Za-z][A-Za-z0-9-]*$", value):
            raise err(f"attributes.{key}", "expected an LDAP attribute name such as 'mail'")
        attributes[key] = value
    role_map: dict[str, str] = {}
    for group, role in r.table("role_map").items():
        if role not in ROLE_RANK:
            raise err(f"role_map.{group}", f"got {role!r}; expected one of {', '.join(ROLE_RANK)}")
        role_map[_group_key(group)] = role
    required = r.strings("required_groups")
    timeouts = {k: r.number(k, 5.0) for k in ("connect_timeout", "receive_timeout")}
    return ProviderConfig(
        name=name, kind=kind, label=r.text("label", name), servers=servers, start_tls=start_tls, ca_file=ca_file,
        tls_verify=tls_verify, allow_plaintext=allow_plaintext, retry_down_after=r.number("retry_down_after", 10.0),
        bind_dn=bind_dn, bind_password=bind_password, anonymous_search=anonymous, base_dn=base_dn,
        user_filter=user_filter, user_dn_template=template, search_scope=scope, attributes=attributes,
        group_base_dn=group_base_dn, group_filter=group_filter, nested_groups=r.flag("nested_groups", False),
        role_map=role_map, required_groups=tuple(_group_key(g) for g in required), domain=domain,
        netbios=netbios, **timeouts)


def _group_key(group: str) -> str:
    """Role-map keys are group DNs (normalised) or bare group names (lower-case CN)."""
    return normalize_dn(group) if "=" in group else group.strip().lower()


def _servers(r: _Reader, err: Any, kind: str, domain: str | None, start_tls: bool) -> tuple[ServerSpec, ...]:
    urls = r.strings("urls") or ([f"ldaps://{domain}"] if kind == "ad" else [])
    if not urls:
        raise err("urls", "give at least one server URL, e.g. [\"ldaps://ldap1.example.com\"]")
    servers = []
    for i, url in enumerate(urls):
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise err(f"urls[{i}]", f"{url!r} is not a valid URL ({exc})") from None
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment or parts.username:
            raise err(f"urls[{i}]", f"{url!r}: expected ldap://host[:port] or ldaps://host[:port]")
        use_ssl = parts.scheme == "ldaps"
        if use_ssl and start_tls:
            raise err("start_tls", f"{url!r} is already ldaps://; StartTLS is only for ldap:// URLs")
        servers.append(ServerSpec(url=url, host=parts.hostname, port=port or (636 if use_ssl else 389),
                                  use_ssl=use_ssl))
    return tuple(servers)


def _ou_dn(ou: str, err: Any) -> str:
    if "=" in ou:
        _check_dn(ou, err, "ou")
        return ou
    from ldap3.utils.dn import escape_rdn

    parts = [p for p in ou.split("/") if p.strip()]  # "Staff/Helpdesk" = OU=Helpdesk,OU=Staff
    return ",".join(f"OU={escape_rdn(p.strip())}" for p in reversed(parts))


def _check_dn(dn: str, err: Any, key: str) -> None:
    try:
        if not parse_dn(dn, strip=True):
            raise ValueError
    except (LDAPInvalidDnError, ValueError, IndexError):
        raise err(key, f"{dn!r} is not a valid DN such as 'dc=example,dc=com'") from None


def _check_filter(template: str, err: Any, key: str, needs: tuple[str, ...]) -> None:
    for placeholder in needs:
        if placeholder not in template:
            raise err(key, f"must contain {placeholder} (it is replaced by the escaped login name), "
                           f"e.g. '(uid={{username}})'")
    probe = template.replace("{username}", "x").replace("{dn}", "cn=x")
    if "{" in probe or "}" in probe:
        raise err(key, "only the placeholders {username} and {dn} are allowed")
    if not (probe.startswith("(") and probe.endswith(")")):
        raise err(key, "a filter must be enclosed in parentheses, e.g. '(uid={username})'")
    try:
        parse_filter(probe, None, auto_escape=False, auto_encode=True, validator=None, check_names=False)
    except (LDAPInvalidFilterError, ValueError, IndexError) as exc:
        raise err(key, f"{template!r} is not a valid LDAP filter ({exc})") from None


class _Reader:
    """Typed access to one provider table with error messages naming the key."""

    def __init__(self, item: Mapping[str, Any], err: Any) -> None:
        self.item, self.err = item, err

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.item.get(key)
        if value is None:
            if required:
                raise self.err(key, "is required")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.err(key, f"expected a non-empty string, got {value!r}" if required else "expected a string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.item.get(key, default)
        if not isinstance(value, bool):
            raise self.err(key, f"expected true or false, got {value!r}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.item.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
            raise self.err(key, f"expected a number of seconds between 0 and 300, got {value!r}")
        return float(value)

    def strings(self, key: str) -> list[str]:
        value = self.item.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.err(key, "expected a list of strings")
        return value

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.item.get(key, {})
        if not isinstance(value, Mapping):
            raise self.err(key, "expected a table, e.g. { \"cn=staff,ou=groups,dc=example,dc=com\" = \"agent\" }")
        return value
