"""Talking to one OpenID Connect provider: discovery, JWKS (with rotation), the authorization code flow with
PKCE, ID token checks, userinfo and RP-initiated logout.

Built on Authlib (``OAuth2Session`` for the authorization URL and the token request, ``CodeIDToken`` for the
ID token's claims) and joserfc, the JOSE library Authlib itself uses, for the signature.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from plugins.auth_oidc.config import ProviderConfig

#: Signature algorithms accepted for ID tokens (asymmetric only: never "none", never a shared secret).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_SECONDS = 3600.0
JWKS_SECONDS = 3600.0
#: An ID token signed with an unknown key refetches the JWKS (key rotation), at most this often.
JWKS_MIN_REFETCH = 2.0


def now() -> float:
    """This server's clock (UTC seconds) for token times; a seam for clock-skew tests."""
    return time.time()


class OidcFailure(Exception):
    """The login cannot go on. ``kind`` picks what the person reads; ``reason`` is for the admin log.

    Kinds: ``unreachable``, ``cancelled``, ``refused``, ``token``, ``clock``, ``email``, ``domain``, ``claims``.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class OidcClient:
    """One provider's client; safe to share between threads (metadata and keys are cached)."""

    def __init__(self, cfg: ProviderConfig, log: logging.Logger) -> None:
        self.cfg = cfg
        self.log = log
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    # ------------------------------------------------------------------ HTTP
    @property
    def verify(self) -> str | bool:
        """``requests``' certificate check: the configured CA file, or the system's trust store."""
        return self.cfg.ca_file or True

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.cfg.timeout_seconds, verify=self.verify,
                                    headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise OidcFailure("unreachable", f"{what} {url}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200:
            raise OidcFailure("unreachable", f"{what} {url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise OidcFailure("unreachable", f"{what} {url}: not JSON") from exc
        if not isinstance(data, dict):
            raise OidcFailure("unreachable", f"{what} {url}: not a JSON object")
        return data

    # ------------------------------------------------------------------ discovery and keys
    def metadata(self, refresh: bool = False) -> dict[str, Any]:
        """The discovery document (cached for an hour; a stale copy is used while the provider is down)."""
        with self._lock:
            fresh = self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_SECONDS
            if fresh and not refresh:
                return self._metadata  # type: ignore[return-value]
        try:
            data = self._get_json(self.cfg.discovery_url, "discovery")
        except OidcFailure:
            if self._metadata is not None:
                self.log.warning("%s: discovery failed; using the copy from %.0f s ago", self.cfg.name,
                                 time.monotonic() - self._metadata_at)
                return self._metadata
            raise
        self.check_metadata(data)
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def check_metadata(self, data: dict[str, Any]) -> None:
        """The discovery document names this issuer and the endpoints a code flow needs (OIDC Discovery 4.3)."""
        if data.get("issuer") != self.cfg.issuer:
            raise OidcFailure("unreachable", f"discovery names issuer {data.get('issuer')!r}, but issuer = "
                                             f"{self.cfg.issuer!r} is configured; they must be equal")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = data.get(key)
            if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http"):
                raise OidcFailure("unreachable", f"discovery document has no usable {key}")
        if "code" not in (data.get("response_types_supported") or ["code"]):
            raise OidcFailure("unreachable", "the provider does not support the authorization code flow")

    def keys(self, refetch: bool = False) -> KeySet:
        """The provider's signing keys (JWKS); ``refetch`` after an unknown key id (rotation), rate-limited."""
        now = time.monotonic()
        with self._lock:
            cached = self._keys
            usable = cached is not None and now - self._keys_at < JWKS_SECONDS
            if usable and (not refetch or now - self._keys_at < JWKS_MIN_REFETCH):
                return cached  # type: ignore[return-value]
        data = self._get_json(self.metadata()["jwks_uri"], "JWKS")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcFailure("unreachable", f"JWKS could not be read: {exc}") from exc
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    # ------------------------------------------------------------------ the code flow
    def session(self, redirect_uri: str) -> OAuth2Session:
        """An Authlib OAuth 2 session for one login (PKCE S256, the configured client authentication)."""
        client = OAuth2Session(self.cfg.client_id, self.cfg.client_secret or None, scope=" ".join(self.cfg.scopes),
                               redirect_uri=redirect_uri, code_challenge_method="S256",
                               token_endpoint_auth_method=self.cfg.token_auth_method)
        client.verify = self.verify
        return client

    def authorization_url(self, redirect_uri: str, state: str) -> tuple[str, dict[str, str]]:
        """The provider's authorization URL for ``state``, and what the callback needs (verifier, nonce)."""
        endpoint = self.metadata()["authorization_endpoint"]
        verifier, nonce = generate_token(64), generate_token(32)
        with self.session(redirect_uri) as client:
            url, _state = client.create_authorization_url(endpoint, state=state, nonce=nonce, code_verifier=verifier,
                                                          **dict(self.cfg.authorize_params))
        return url, {"verifier": verifier, "nonce": nonce}

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """Trade the authorization code for tokens at the token endpoint."""
        endpoint = self.metadata()["token_endpoint"]
        with self.session(redirect_uri) as client:
            try:
                token = client.fetch_token(endpoint, grant_type="authorization_code", code=code,
                                           code_verifier=verifier, timeout=self.cfg.timeout_seconds)
            except requests.RequestException as exc:
                raise OidcFailure("unreachable", f"token endpoint: {exc.__class__.__name__}: {exc}") from exc
            except Exception as exc:  # Authlib's OAuthError and friends: the provider refused the code
                raise OidcFailure("refused", f"token endpoint refused the code: {exc}") from exc
        if not isinstance(token, dict) or not token.get("id_token"):
            raise OidcFailure("token", "the token response has no id_token (is the 'openid' scope granted?)")
        return dict(token)

    def id_token_claims(self, id_token: str, nonce: str, access_token: str | None) -> dict[str, Any]:
        """Check the ID token's signature (JWKS, refetched once for an unknown key), issuer, audience,
        authorized party, expiry, issue time, nonce and ``at_hash``; return its claims."""
        supported = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in supported if a in ALGORITHMS]
        if not algorithms:
            raise OidcFailure("token", f"the provider signs ID tokens only with {supported}; none is accepted")
        try:
            try:
                decoded = jwt.decode(id_token, self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self.keys(refetch=True), algorithms=algorithms)
        except JoseError as exc:
            raise OidcFailure("token", f"ID token signature not valid: {exc.__class__.__name__}: {exc}") from exc
        claims = decoded.claims
        self._check_times(claims)
        options = {"iss": {"essential": True, "value": self.cfg.issuer},
                   "aud": {"essential": True, "value": self.cfg.client_id},
                   "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True}}
        params = {"nonce": nonce, "client_id": self.cfg.client_id, "access_token": access_token}
        checked = CodeIDToken(claims, decoded.header, options, params)  # type: ignore[arg-type]
        try:
            checked.validate(now=int(now()), leeway=self.cfg.clock_skew_seconds)
        except ExpiredTokenError as exc:
            raise OidcFailure("clock", f"ID token expired ({exc})") from exc
        except JoseError as exc:
            raise OidcFailure("token", f"ID token claim check failed: {exc.__class__.__name__}: {exc}") from exc
        if not nonce or claims.get("nonce") != nonce:
            raise OidcFailure("token", "ID token nonce does not match the one sent")
        return dict(claims)

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expired or not yet valid, told apart from other failures: both point at clock skew or a replay."""
        current, skew = now(), self.cfg.clock_skew_seconds
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if isinstance(exp, int | float) and exp <= current - skew:
            raise OidcFailure("clock", f"ID token expired {current - exp:.0f} s ago (allowed clock skew {skew} s)")
        for name, value in (("iat", iat), ("nbf", nbf)):
            if isinstance(value, int | float) and value > current + skew:
                raise OidcFailure("clock", f"ID token {name} is {value - current:.0f} s in the future (allowed clock "
                                           f"skew {skew} s): this server's clock or the provider's is wrong")

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo endpoint's claims (``{}`` when the provider has none)."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint or not access_token:
            return {}
        try:
            response = requests.get(endpoint, timeout=self.cfg.timeout_seconds, verify=self.verify,
                                    headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        except requests.RequestException as exc:
            raise OidcFailure("unreachable", f"userinfo: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
            raise OidcFailure("token", f"userinfo answered HTTP {response.status_code} "
                                       f"({response.headers.get('Content-Type', '')})")
        data = response.json()
        return data if isinstance(data, dict) else {}

    def logout_url(self, post_logout_redirect_uri: str) -> str | None:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with ``client_id``, or ``None``."""
        if not self.cfg.logout:
            return None
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcFailure as exc:
            self.log.warning("%s: no provider logout (%s)", self.cfg.name, exc.reason)
            return None
        if not endpoint:
            return None
        query = urlencode({"client_id": self.cfg.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
