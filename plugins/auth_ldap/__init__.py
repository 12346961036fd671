"""``auth_ldap``: log in against LDAP directories and Active Directory (see ``docs/ldap.md``).

Several named providers per deployment (``[[plugins.auth_ldap.providers]]``), tried in configured order.
Each is an *external* auth provider: its users get a local profile just in time (linked by entryUUID /
objectGUID), never a local password and never a reset email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import AuthProviderInfo, AuthResult, AuthStatus, DiagnosticStep, PluginContext, RequestInfo, hookimpl
from plugins.auth_ldap.config import LdapConfig, parse
from plugins.auth_ldap.provider import DirectoryProvider

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
PLUGIN = "auth_ldap"


@dataclass
class LdapPlugin:
    """What ``parse_config`` returns: the parsed configuration and one live provider per entry."""

    config: LdapConfig
    providers: list[DirectoryProvider] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """Insecure settings an admin must be told about (startup log, connection test)."""
        out = []
        for p in self.config.providers:
            if not p.tls_verify:
                out.append(f"provider {p.name!r}: TLS certificate validation is DISABLED (tls_verify = false); "
                           "passwords can be intercepted. Set ca_file instead.")
            if not p.encrypted:
                out.append(f"provider {p.name!r}: plain ldap:// without StartTLS (allow_plaintext = true); "
                           "passwords cross the network in clear text.")
        return out


def _plugin(ctx: PluginContext) -> LdapPlugin | None:
    runtime = ctx.plugin_config(PLUGIN)
    return runtime if isinstance(runtime, LdapPlugin) else None


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> LdapPlugin:
    """Validate ``[plugins.auth_ldap]`` and build the providers; warn loudly about insecure TLS settings."""
    source = getattr(ctx.settings, "source", None)
    config = parse(raw, str(source) if source else None)
    log = ctx.log(PLUGIN)
    plugin = LdapPlugin(config, [DirectoryProvider(p, log) for p in config.providers])
    for warning in plugin.warnings():
        log.warning("SECURITY WARNING: %s", warning)
    return plugin


@hookimpl
def auth_providers(ctx: PluginContext) -> list[AuthProviderInfo]:
    """One external provider per configured directory."""
    plugin = _plugin(ctx)
    if plugin is None:
        return []
    return [AuthProviderInfo(name=p.name, label=p.label, external=True, registration=False)
            for p in plugin.config.providers]


@hookimpl
def auth_authenticate(username: str, password: str, request: RequestInfo, ctx: PluginContext) -> AuthResult | None:
    """Try each directory in order: the first that knows the user decides; ``None`` when none does.

    A directory that cannot be reached is skipped; if no other directory knows the user, the result is
    ``unavailable`` (the user sees "directory unreachable"; local accounts still log in).
    """
    plugin = _plugin(ctx)
    if plugin is None:
        return None
    unavailable: AuthResult | None = None
    for provider in plugin.providers:
        result = provider.authenticate(username, password, request, ctx)
        if result is None:
            continue
        if result.status is AuthStatus.UNAVAILABLE:
            unavailable = unavailable or result
            continue
        return result
    return unavailable


@hookimpl
def plugin_warnings(ctx: PluginContext) -> list[str] | None:
    """Insecure TLS settings, shown on the Plugins page."""
    plugin = _plugin(ctx)
    return plugin.warnings() if plugin else None


@hookimpl
def plugin_diagnose(ctx: PluginContext, provider: str | None, username: str | None) -> list[DiagnosticStep] | None:
    """Connection test: config, connect, TLS, service bind, search base, user lookup - per provider."""
    from plugins.auth_ldap.diagnose import diagnose

    plugin = _plugin(ctx)
    if plugin is None or not plugin.providers:
        return [DiagnosticStep("config", False, "no providers configured in [plugins.auth_ldap]")]
    chosen = [p for p in plugin.providers if provider is None or p.cfg.name == provider]
    if not chosen:
        names = ", ".join(p.cfg.name for p in plugin.providers)
        return [DiagnosticStep("config", False, f"no provider named {provider!r}; configured: {names}")]
    steps = [DiagnosticStep("security", False, w) for w in plugin.warnings()
             if any(f"{p.cfg.name!r}" in w for p in chosen)]
    steps = [DiagnosticStep(s.name, True, "WARNING: " + s.detail) for s in steps]
    for p in chosen:
        steps.extend(diagnose(p, username))
    return steps
