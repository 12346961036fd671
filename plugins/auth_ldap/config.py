"""Parse and validate ``[plugins.auth_ldap]``: one :class:`ProviderConfig` per ``[[plugins.auth_ldap.providers]]``.

The tables are pydantic models (:class:`LdapTable`, :class:`ProviderTable`); what depends on several keys
(``kind``-specific defaults, TLS and bind rules, server URLs) is checked by :func:`parse`. Every mistake stops
startup with :class:`core.PluginConfigError` naming the key (``providers[0].user_filter``) and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidDnError, LDAPInvalidFilterError
from ldap3.operation.search import parse_filter
from ldap3.utils.dn import parse_dn
from pydantic import AfterValidator, BeforeValidator, Field

from core import ConfigModel, PluginConfigError, Role, explain, parse_plugin_config

KINDS = ("ldap", "ad")
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
    role_map: Mapping[str, Role]  # normalised group DN or lower-case CN -> role
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


def _strings(value: Any) -> Any:
    """A single string where a list of strings is expected counts as a list of one."""
    return [value] if isinstance(value, str) else value


def _checked_dn(dn: str) -> str:
    try:
        if not parse_dn(dn, strip=True):
            raise ValueError
    except (LDAPInvalidDnError, ValueError, IndexError):
        raise ValueError(f"{dn!r} is not a valid DN such as 'dc=example,dc=com'") from None
    return dn


def _checked_filter(template: str, needs: tuple[str, ...] = ()) -> str:
    for placeholder in needs:
        if placeholder not in template:
            raise ValueError(f"must contain {placeholder} (it is replaced by the escaped login name), "
                             f"e.g. '(uid={{username}})'")
    probe = template.replace("{username}", "x").replace("{dn}", "cn=x")
    if "{" in probe or "}" in probe:
        raise ValueError("only the placeholders {username} and {dn} are allowed")
    if not (probe.startswith("(") and probe.endswith(")")):
        raise ValueError("a filter must be enclosed in parentheses, e.g. '(uid={username})'")
    try:
        parse_filter(probe, None, auto_escape=False, auto_encode=True, validator=None, check_names=False)
    except (LDAPInvalidFilterError, ValueError, IndexError) as exc:
        raise ValueError(f"{template!r} is not a valid LDAP filter ({exc})") from None
    return template


def _checked_name(name: str) -> str:
    if not _NAME.match(name) or name == "local":
        raise ValueError("use 1-40 lower-case letters, digits, '_' or '-', starting with a letter (not 'local')")
    return name


Flag = Annotated[bool, explain("expected true or false, got {got}")]
Seconds = Annotated[float, Field(gt=0, le=300), explain("expected a number of seconds between 0 and 300, got {got}")]
Strings = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_strings),
                    explain("expected a list of strings")]
Dn = Annotated[str, AfterValidator(_checked_dn)]
AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]*$"),
                          explain("expected an LDAP attribute name such as 'mail'")]


class AttributesTable(ConfigModel):
    """``attributes``: which directory attribute holds each profile field (defaults depend on ``kind``)."""

    unknown_key_message: ClassVar[str] = "unknown attribute key"
    username: AttributeName | None = None
    email: AttributeName | None = None
    display_name: AttributeName | None = None
    groups: AttributeName | None = None
    external_id: AttributeName | None = None


class ProviderTable(ConfigModel):
    """One ``[[plugins.auth_ldap.providers]]`` table as written; rules between keys are checked by :func:`parse`."""

    name: Annotated[str, Field(min_length=1), AfterValidator(_checked_name)]
    kind: Annotated[Literal["ldap", "ad"], explain("got {got}; expected 'ldap' or 'ad'")] = "ldap"
    label: str | None = None
    urls: Strings = []
    start_tls: Flag = False
    ca_file: str = ""
    tls_verify: Flag = True
    allow_plaintext: Flag = False
    connect_timeout: Seconds = 5.0
    receive_timeout: Seconds = 5.0
    retry_down_after: Seconds = 10.0
    bind_dn: str = ""
    bind_password: str = Field("", repr=False)
    anonymous_search: Flag = False
    base_dn: Dn | None = None
    user_filter: Annotated[str | None, AfterValidator(lambda f: f and _checked_filter(f, ("{username}",)))] = None
    user_dn_template: str = ""
    search_scope: Annotated[Literal["subtree", "one"], explain("expected 'subtree' or 'one'")] = "subtree"
    attributes: AttributesTable = AttributesTable()
    group_base_dn: Annotated[str, AfterValidator(lambda dn: dn and _checked_dn(dn))] = ""
    group_filter: Annotated[str | None, AfterValidator(lambda f: f and _checked_filter(f))] = None
    nested_groups: Flag = False
    role_map: dict[str, Annotated[Role, Field(strict=False),  # TOML gives strings: "agent" -> Role.AGENT
                                  explain(f"got {{got}}; expected one of {', '.join(Role)}")]] = {}
    required_groups: Strings = []
    domain: str | None = None
    ou: str = ""
    netbios: str | None = None


class LdapTable(ConfigModel):
    """``[plugins.auth_ldap]``: the providers in the order they are tried."""

    providers: list[ProviderTable] = []


def parse(raw: Mapping[str, Any], source: str | None = None) -> LdapConfig:
    """Validate the raw table; relative ``ca_file`` paths are resolved against ``source``'s folder."""
    table = parse_plugin_config(LdapTable, raw)
    base = Path(source).parent if source else Path.cwd()
    providers = tuple(_provider(item, f"providers[{i}]", base) for i, item in enumerate(table.providers))
    names = [p.name for p in providers]
    for name in names:
        if names.count(name) > 1:
            raise PluginConfigError(f"providers[{names.index(name, names.index(name) + 1)}].name",
                                    f"{name!r} is used twice; each provider needs its own name")
    return LdapConfig(providers)


def _provider(t: ProviderTable, where: str, base: Path) -> ProviderConfig:
    """The rules between keys, defaults that depend on ``kind``, and the final :class:`ProviderConfig`."""
    def err(key: str, message: str) -> PluginConfigError:
        return PluginConfigError(f"{where}.{key}", message)

    domain = netbios = None
    if t.kind == "ad":
        if not t.domain:
            raise err("domain", "is required")
        domain = t.domain.lower().strip(".")
        if not _DOMAIN.match(domain):
            raise err("domain", f"{domain!r} is not a DNS domain name such as 'example.com'")
        netbios = (t.netbios or domain.split(".")[0]).upper()
    servers = _servers(t.urls, err, t.kind, domain, t.start_tls)
    ca_file = None
    if t.ca_file:
        path = Path(t.ca_file) if Path(t.ca_file).is_absolute() else base / t.ca_file
        if not path.is_file():
            raise err("ca_file", f"{path} does not exist or is not a file")
        ca_file = str(path)
    if not t.start_tls and not all(s.use_ssl for s in servers) and not t.allow_plaintext:
        raise err("urls", "ldap:// without start_tls sends passwords in clear text; use ldaps://, set "
                          "start_tls = true, or (test setups only) allow_plaintext = true")
    if t.bind_dn and not t.bind_password:
        raise err("bind_password", "bind_dn is set but bind_password is empty (use { \"$env\" = \"NAME\" } or "
                                   "{ \"$file\" = \"path\" } for the secret)")
    template = t.user_dn_template or None
    if t.kind == "ldap" and not t.bind_dn and not t.anonymous_search and not template:
        raise err("bind_dn", "set bind_dn + bind_password (service account), anonymous_search = true, or "
                             "user_dn_template")
    if template is not None:
        if t.kind != "ldap":
            raise err("user_dn_template", "only for kind = 'ldap'")
        if "{username}" not in template:
            raise err("user_dn_template", "must contain {username}")
        _check(err, "user_dn_template", _checked_dn, template.replace("{username}", "x"))
    if t.base_dn is not None:
        base_dn = t.base_dn
    elif domain is not None:
        ou_dn = _ou_dn(t.ou, err) if t.ou else ""
        base_dn = (ou_dn + "," if ou_dn else "") + ",".join(f"DC={part}" for part in domain.split("."))
    else:
        raise err("base_dn", "is required")
    attributes = {**DEFAULT_ATTRIBUTES[t.kind], **t.attributes.model_dump(exclude_none=True)}
    return ProviderConfig(
        name=t.name, kind=t.kind, label=t.label or t.name, servers=servers, start_tls=t.start_tls,
        ca_file=ca_file, tls_verify=t.tls_verify, allow_plaintext=t.allow_plaintext,
        connect_timeout=float(t.connect_timeout), receive_timeout=float(t.receive_timeout),
        retry_down_after=float(t.retry_down_after), bind_dn=t.bind_dn, bind_password=t.bind_password,
        anonymous_search=t.anonymous_search, base_dn=base_dn,
        user_filter=t.user_filter or (AD_FILTER if t.kind == "ad" else LDAP_FILTER), user_dn_template=template,
        search_scope=t.search_scope, attributes=attributes, group_base_dn=t.group_base_dn or None,
        group_filter=t.group_filter or (AD_NESTED_GROUP_FILTER if t.kind == "ad" else LDAP_GROUP_FILTER),
        nested_groups=t.nested_groups, role_map={_group_key(g): r for g, r in t.role_map.items()},
        required_groups=tuple(_group_key(g) for g in t.required_groups), domain=domain, netbios=netbios)


def _check(err: Any, key: str, check: Any, value: str) -> str:
    """Run a ``ValueError``-raising check; report its message under ``key``."""
    try:
        return str(check(value))
    except ValueError as exc:
        raise err(key, str(exc)) from None


def _group_key(group: str) -> str:
    """Role-map keys are group DNs (normalised) or bare group names (lower-case CN)."""
    return normalize_dn(group) if "=" in group else group.strip().lower()


def _servers(urls: list[str], err: Any, kind: str, domain: str | None, start_tls: bool) -> tuple[ServerSpec, ...]:
    urls = urls or ([f"ldaps://{domain}"] if kind == "ad" else [])
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
        return _check(err, "ou", _checked_dn, ou)
    from ldap3.utils.dn import escape_rdn

    parts = [p for p in ou.split("/") if p.strip()]  # "Staff/Helpdesk" = OU=Helpdesk,OU=Staff
    return ",".join(f"OU={escape_rdn(p.strip())}" for p in reversed(parts))
