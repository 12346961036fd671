"""The connection test behind ``plugdesk plugins test auth_oidc [--provider NAME]``: discovery, then JWKS.

It fetches both documents fresh (never the cache), reports what a login would use, and names the exact
redirect URI to register at the provider. Secrets never appear in the details.
"""

from __future__ import annotations

from core import DiagnosticStep
from plugins.auth_oidc.client import ALGORITHMS, OidcClient, OidcFailure


def diagnose(client: OidcClient, base_url: str) -> list[DiagnosticStep]:
    """Every step for one provider; JWKS is skipped when discovery failed."""
    cfg = client.cfg
    prefix = f"{cfg.name}: "
    redirect_uri = f"{base_url.rstrip('/')}/login/sso/{cfg.name}/callback"
    steps = [DiagnosticStep(prefix + "config", True,
                            f"issuer={cfg.issuer} client_id={cfg.client_id} scopes={' '.join(cfg.scopes)} "
                            f"client authentication={cfg.token_auth_method} ca_file={cfg.ca_file or '(system)'}; "
                            f"register the redirect URI {redirect_uri} and the post-logout redirect URI "
                            f"{base_url.rstrip('/')}/ at the provider")]
    try:
        metadata = client.metadata(refresh=True)
    except OidcFailure as exc:
        steps.append(DiagnosticStep(prefix + "discovery", False, f"{cfg.discovery_url}: {exc.reason}"))
        return steps
    algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"] if a in ALGORITHMS]
    steps.append(DiagnosticStep(
        prefix + "discovery", bool(algorithms),
        f"{cfg.discovery_url}: authorization {metadata['authorization_endpoint']}, token "
        f"{metadata['token_endpoint']}, PKCE {', '.join(metadata.get('code_challenge_methods_supported') or ['?'])}, "
        f"ID token algorithms {', '.join(algorithms) or 'NONE ACCEPTED (asymmetric algorithms only)'}, logout "
        f"{metadata.get('end_session_endpoint') or 'not offered'}"))
    try:
        keys = client.keys(refetch=True)
    except OidcFailure as exc:
        steps.append(DiagnosticStep(prefix + "jwks", False, f"{metadata.get('jwks_uri')}: {exc.reason}"))
        return steps
    kids = [str(key.kid) for key in keys.keys]
    steps.append(DiagnosticStep(prefix + "jwks", bool(kids), f"{metadata['jwks_uri']}: {len(kids)} key(s) "
                                f"{', '.join(kids) if kids else '- no keys: ID tokens cannot be verified'}"))
    return steps
