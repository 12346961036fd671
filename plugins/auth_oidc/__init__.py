"""``auth_oidc``: single sign-on with OpenID Connect providers (Keycloak, Entra ID, Google, ...); see ``docs/sso.md``.

Several named providers per deployment (``[[plugins.auth_oidc.providers]]``), each a "Sign in with LABEL"
button on the login page and an *external* auth provider: its accounts are created just in time (keyed by the
``sub`` claim), never get a local password and never get a reset email. The flow is the authorization code
flow with PKCE, ``state`` (made and checked by core) and ``nonce``; ID tokens are checked for signature (JWKS,
refetched when the provider rotates its keys), issuer, audience, expiry and nonce. The plugin takes no part
in the password chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import (
    AuthProviderInfo,
    AuthResult,
    DiagnosticStep,
    PluginContext,
    RedirectProviderInfo,
    RedirectStart,
    RequestInfo,
    UserInfo,
    hookimpl,
)
from plugins.auth_oidc.client import OidcClient, OidcFailure
from plugins.auth_oidc.config import OidcConfig, parse
from plugins.auth_oidc.login import ProviderLogin

PLUGDESK_HOOKS_VERSION = ">=1.2,<2"
PLUGIN = "auth_oidc"


@dataclass
class OidcPlugin:
    """What ``parse_config`` returns: the parsed configuration and one live login per provider."""

    config: OidcConfig
    logins: dict[str, ProviderLogin] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """Settings an admin must be told about (startup log, Plugins page)."""
        out = []
        for p in self.config.providers:
            if p.issuer.startswith("http://"):
                out.append(f"provider {p.name!r}: the issuer uses plain http:// (allowed on loopback for tests only)")
            if not p.verified_emails_only and p.link_existing == "password":
                out.append(f"provider {p.name!r}: accounts are linked by verified email only; set "
                           "verified_emails_only = true if the provider lets users claim unverified addresses")
        return out


def _plugin(ctx: PluginContext) -> OidcPlugin | None:
    runtime = ctx.plugin_config(PLUGIN)
    return runtime if isinstance(runtime, OidcPlugin) else None


def _login(ctx: PluginContext, provider: str) -> ProviderLogin:
    plugin = _plugin(ctx)
    if plugin is None or provider not in plugin.logins:
        raise LookupError(f"auth_oidc has no provider named {provider!r}")
    return plugin.logins[provider]


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> OidcPlugin:
    """Validate ``[plugins.auth_oidc]`` and build one client per provider (nothing is fetched yet)."""
    source = getattr(ctx.settings, "source", None)
    config = parse(raw, str(source) if source else None)
    log = ctx.log(PLUGIN)
    plugin = OidcPlugin(config, {p.name: ProviderLogin(OidcClient(p, log), log) for p in config.providers})
    for warning in plugin.warnings():
        log.warning("%s", warning)
    return plugin


@hookimpl
def auth_providers(ctx: PluginContext) -> list[AuthProviderInfo]:
    """One external provider per configured issuer (its accounts never get a local password or reset)."""
    plugin = _plugin(ctx)
    return [AuthProviderInfo(name=p.name, label=p.label, external=True, registration=False)
            for p in (plugin.config.providers if plugin else ())]


@hookimpl
def auth_redirect_providers(ctx: PluginContext) -> list[RedirectProviderInfo]:
    """A "Sign in with LABEL" button per provider, with its account-linking rule."""
    plugin = _plugin(ctx)
    return [RedirectProviderInfo(name=p.name, label=p.label, link_existing=p.link_existing)
            for p in (plugin.config.providers if plugin else ())]


@hookimpl
def auth_redirect_begin(provider: str, redirect_uri: str, state: str, ctx: PluginContext) -> RedirectStart:
    """The authorization URL; raises when the provider's discovery document cannot be loaded."""
    return _login(ctx, provider).begin(redirect_uri, state)


@hookimpl
def auth_redirect_complete(provider: str, params: Mapping[str, str], kept: Mapping[str, str], redirect_uri: str,
                           request: RequestInfo, ctx: PluginContext) -> AuthResult:
    """Trade the code, check the ID token, map the claims; every failure is a readable AuthResult."""
    login = _login(ctx, provider)
    result = login.complete(params, kept, redirect_uri)
    if result.identity is None:
        ctx.log(PLUGIN).warning("login via %s from %s refused: %s", provider, request.remote_addr, result.reason)
    return result


@hookimpl
def auth_redirect_logout(provider: str, user: UserInfo, post_logout_redirect_uri: str,
                         ctx: PluginContext) -> str | None:
    """The provider's end-session URL (RP-initiated logout), when it offers one and ``logout`` is on."""
    return _login(ctx, provider).client.logout_url(post_logout_redirect_uri)


@hookimpl
def plugin_warnings(ctx: PluginContext) -> list[str] | None:
    """Risky settings, shown on the Plugins page."""
    plugin = _plugin(ctx)
    return plugin.warnings() if plugin else None


@hookimpl
def plugin_diagnose(ctx: PluginContext, provider: str | None, username: str | None) -> list[DiagnosticStep] | None:
    """Connection test: fetch each provider's discovery document and JWKS."""
    from plugins.auth_oidc.diagnose import diagnose

    plugin = _plugin(ctx)
    if plugin is None or not plugin.logins:
        return [DiagnosticStep("config", False, "no providers configured in [plugins.auth_oidc]")]
    chosen = [login for name, login in plugin.logins.items() if provider is None or name == provider]
    if not chosen:
        return [DiagnosticStep("config", False, f"no provider named {provider!r}; configured: "
                                                f"{', '.join(plugin.logins)}")]
    base_url = ctx.settings.get("server", "base_url")
    return [step for login in chosen for step in diagnose(login.client, base_url)]


__all__ = ["OidcFailure", "OidcPlugin", "parse_config"]
