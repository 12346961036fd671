"""Figure ``sso_login``: a full OpenID Connect code-flow login round trip against the provider's token endpoint
alone (issue 20; reported, no goal yet).

The provider is the tests' real one (npm ``oidc-provider`` on Node.js, ``tests/oidc/``) on loopback.

* **plugdesk** (timed): one person's whole login as :class:`tests.oidc.flow.RpBrowser` plays it - the login
  page, the "Sign in with Test IdP" button (core's state, the plugin's PKCE verifier and nonce, discovery
  from cache), the provider's authorization endpoint and its login form, the callback: code for tokens,
  the ID token's signature/claims checks, the account found and the session started.
* **baseline** (timed): the provider's token endpoint alone - one ``authorization_code`` grant with PKCE
  and client authentication, for a code obtained beforehand (untimed) through the same provider form.

ratio = token endpoint time / round-trip time: the share of a login the token request itself takes. The
round trip makes three requests to plugdesk (login page, button, callback) and six to the provider (the
browser's authorize, login form, form post and resume; plugdesk's token and userinfo calls). Seen on a
shared 2-core machine (2026-12-02, load ~8): 43.3 ms vs 3.7 ms, ratio 0.085 (full run); no goal yet.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from benchmarks.common import figure


def figures(quick: bool) -> list[dict[str, Any]]:
    """Alternate a full round trip and a bare token request; report medians."""
    from core.testing import make_test_app
    from tests.oidc.flow import RpBrowser
    from tests.oidc.servers import SECRET, provider_table, start_oidc

    rounds = 15 if quick else 120
    work = Path(tempfile.mkdtemp(prefix="bench-sso-"))
    rp = "http://rp.test"
    server = start_oidc(work, [rp])
    try:
        app = make_test_app(work / "app", ["auth_local", "auth_oidc"], overrides={
            "server": {"base_url": rp}, "plugins": {"auth_oidc": {"providers": [provider_table(server)]}}})
        token_endpoint = f"{server.issuer}/token"
        redirect_uri = f"{rp}/login/sso/testidp/callback"

        def round_trip() -> None:
            person = RpBrowser(app)
            answer = person.login("alice", "alice-idp-pw")
            assert answer.status_code == 302 and person.user_id() is not None, answer.get_data(as_text=True)

        def fresh_code() -> tuple[str, str]:
            """A code for the plugdesk client (untimed), with the PKCE verifier it was asked with."""
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = urlencode({"response_type": "code", "client_id": "plugdesk", "redirect_uri": redirect_uri,
                               "scope": "openid email profile groups", "state": secrets.token_urlsafe(16),
                               "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
                               "code_challenge_method": "S256"})
            params = RpBrowser(app).at_provider(f"{server.issuer}/auth?{query}", "alice", "alice-idp-pw")
            return params["code"], verifier

        token_session = requests.Session()

        def token_request(code: str, verifier: str) -> None:
            response = token_session.post(token_endpoint, auth=("plugdesk", SECRET), timeout=10, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier})
            assert response.status_code == 200 and "id_token" in response.json(), response.text

        full_t, token_t = [], []
        round_trip()  # warm up: discovery, JWKS, the provider's first requests (no app context held: every
        token_request(*fresh_code())  # request of the test client must get its own, as in a real server)
        for _ in range(rounds):
            code, verifier = fresh_code()
            t0 = time.perf_counter()
            token_request(code, verifier)
            token_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            round_trip()
            full_t.append(time.perf_counter() - t0)
    finally:
        server.stop()
    full, token = statistics.median(full_t), statistics.median(token_t)
    return [figure("sso_login", full * 1000, token * 1000, "none yet (reported)", "ms/login",
                   "full OpenID Connect code-flow login (plugdesk pages + provider authorize/login form + "
                   "token exchange + ID token checks + session) vs the provider's token endpoint alone; "
                   "ratio = token endpoint time / round-trip time", ratio=token / full)]


#: ``python -m benchmarks --only sso_login`` (by figure name).
FIGURES = {"sso_login": lambda quick: figures(quick)[0]}
