"""One provider's side of a redirect login: begin (URL + what to keep) and complete (checks -> Identity).

Claim mapping: ``sub`` is the stable key (``Identity.external_id``; the username and email may change at the
provider), ``email`` / ``email_verified``, ``name`` (or given + family name), the configured username claim
(``preferred_username``), and the groups claim mapped to a role like ``auth_ldap``'s ``role_map``.
With ``trust_provider_mfa``, an ``amr`` claim naming a second factor (:data:`MFA_AMR`) sets
``Identity.mfa``: plugdesk then does not ask for its own second factor (docs/sso.md, "Two-factor login").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from core import AuthResult, Identity, RedirectStart
from plugins.auth_oidc.client import OidcClient, OidcFailure

#: What the person reads for each kind of failure (``{label}`` is the provider's label).
MESSAGES = {
    "unreachable": "{label} cannot be reached right now. Please try again in a few minutes.",
    "cancelled": "You cancelled signing in with {label}, so you are not signed in. You can try again, or sign in "
                 "with your username and password.",
    "refused": "{label} did not let you sign in here ({detail}). If you think you should have access, ask the "
               "help desk's administrators.",
    "token": "The answer from {label} could not be verified, so you are not signed in. Please try again; if it "
             "keeps happening, tell the help desk's administrators.",
    "clock": "The answer from {label} is outside its validity time. This happens when the clocks of this help "
             "desk and {label} differ (clock skew) or when an old sign-in is reused. Please try again; if it keeps "
             "happening, tell the help desk's administrators.",
    "email": "{label} did not share a usable email address for your account, and this help desk needs one. Allow "
             "sharing your email address at {label} (or ask its administrators to add one), then try again.",
    "domain": "Your {label} account's email address is not from an organisation this help desk serves.",
    "claims": "{label} sent an incomplete answer, so you are not signed in. Tell the help desk's administrators.",
}


#: ``amr`` values (RFC 8176) that show the provider checked a second factor (or a hardware key) itself.
MFA_AMR = frozenset({"mfa", "otp", "hwk", "sc", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"})


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class ProviderLogin:
    """Begin and complete logins for one configured provider."""

    def __init__(self, client: OidcClient, log: logging.Logger) -> None:
        self.client = client
        self.cfg = client.cfg
        self.log = log

    def failure(self, exc: OidcFailure, detail: str = "") -> AuthResult:
        """The AuthResult for a failure: logged reason for the admin, a readable message for the person."""
        message = MESSAGES[exc.kind].format(label=self.cfg.label, detail=detail or "access denied")
        reason = f"{self.cfg.name}: {exc.kind}: {exc.reason}"
        if exc.kind == "unreachable":
            return AuthResult.unavailable(reason, message)
        return AuthResult.denied(reason, message)

    def begin(self, redirect_uri: str, state: str) -> RedirectStart:
        """The authorization URL (code flow, PKCE S256, nonce); raises :class:`OidcFailure` if unreachable."""
        url, keep = self.client.authorization_url(redirect_uri, state)
        return RedirectStart(url=url, keep=keep)

    def complete(self, params: Mapping[str, str], kept: Mapping[str, str], redirect_uri: str) -> AuthResult:
        """Check the callback, trade the code, check the ID token, map the claims."""
        try:
            return AuthResult.ok(self._identity(params, kept, redirect_uri))
        except OidcFailure as exc:
            detail = params.get("error_description") or params.get("error") or ""
            return self.failure(exc, detail[:200])

    def _identity(self, params: Mapping[str, str], kept: Mapping[str, str], redirect_uri: str) -> Identity:
        error = params.get("error")
        if error:
            kind = "cancelled" if error in ("access_denied", "login_required", "consent_required",
                                           "interaction_required") else "refused"
            raise OidcFailure(kind, f"the provider answered error={error!r} ({params.get('error_description', '')})")
        metadata = self.client.metadata()
        issuer = params.get("iss")
        if issuer is not None and issuer != self.cfg.issuer:  # RFC 9207: a mix-up of providers
            raise OidcFailure("token", f"callback names issuer {issuer!r}, expected {self.cfg.issuer!r}")
        if issuer is None and metadata.get("authorization_response_iss_parameter_supported"):
            raise OidcFailure("token", "callback lacks the 'iss' parameter the provider promises (RFC 9207)")
        code = params.get("code", "")
        if not code or not kept.get("verifier") or not kept.get("nonce"):
            raise OidcFailure("claims", "callback without code, or the attempt lost its PKCE verifier / nonce")
        token = self.client.exchange(code, redirect_uri, kept["verifier"])
        claims = self.client.id_token_claims(token["id_token"], kept["nonce"], token.get("access_token"))
        wanted = ("email", "name", self.cfg.username_claim, self.cfg.groups_claim)
        if any(key not in claims for key in wanted) and token.get("access_token"):
            extra = self.client.userinfo(token["access_token"])
            if extra and extra.get("sub") != claims["sub"]:
                raise OidcFailure("token", "userinfo 'sub' differs from the ID token's (OIDC Core 5.3.2)")
            extra.pop("amr", None)  # how the person authenticated counts only from the signed ID token
            claims = {**extra, **claims}
        return self.identity(claims)

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        """Map verified claims to an :class:`core.Identity` (email, domain and group rules applied)."""
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise OidcFailure("claims", f"unusable 'sub' claim {subject!r}")
        raw_email = claims.get("email")
        email: str = raw_email if isinstance(raw_email, str) else ""
        verified = bool(email) and _flag(claims.get("email_verified"))
        if not email and self.cfg.require_email:
            raise OidcFailure("email", f"subject {subject}: no 'email' claim (scope 'email' granted?)")
        if email and self.cfg.verified_emails_only and not verified:
            raise OidcFailure("email", f"subject {subject}: email {email!r} is not verified by the provider "
                                       "(verified_emails_only = true)")
        if self.cfg.allowed_domains and (not verified or email.rsplit("@", 1)[-1].lower()
                                         not in self.cfg.allowed_domains):
            raise OidcFailure("domain", f"subject {subject}: email {email!r} (verified: {verified}) is not in "
                                        f"allowed_domains {list(self.cfg.allowed_domains)}")
        groups = claims.get(self.cfg.groups_claim) or []
        groups = [str(g) for g in (groups if isinstance(groups, list) else [groups])][:500]
        name = claims.get("name") or " ".join(str(claims.get(k, "")) for k in ("given_name", "family_name")).strip()
        username = claims.get(self.cfg.username_claim) or (email.split("@")[0] if email else "")
        raw_amr = claims.get("amr")
        amr: list[Any] = raw_amr if isinstance(raw_amr, list) else []
        return Identity(provider=self.cfg.name, username=str(username)[:150], external_id=subject,
                        email=email, display_name=str(name)[:200], email_verified=verified,
                        role=self.cfg.role(groups), groups=tuple(groups),
                        mfa=self.cfg.trust_provider_mfa and bool(MFA_AMR & {str(v) for v in amr}))
