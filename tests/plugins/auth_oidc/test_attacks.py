"""Attacks on the code flow, each refused, against the real provider: a tampered ID token, a replayed
``state``, a state from another browser, a wrong ``nonce``, an expired token, a token for another audience,
a mixed-up issuer. Tokens are changed in transit by wrapping the plugin's token request."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

import plugins.auth_oidc.client as client_module

pytestmark = pytest.mark.slow


def _refused(response: Any, status: int, text: str) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert text in body and "Traceback" not in body


@pytest.fixture
def tamper(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``tamper(change)``: every token response the plugin receives goes through ``change(token) -> token``."""

    def install(change: Any) -> None:
        real = client_module.OidcClient.exchange

        def exchange(self: Any, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
            return change(real(self, code, redirect_uri, verifier))

        monkeypatch.setattr(client_module.OidcClient, "exchange", exchange)

    return install


def _claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tampered_id_token_is_refused(oidc_app, browser, tamper, caplog) -> None:
    def change(token: dict[str, Any]) -> dict[str, Any]:
        header, _payload, signature = token["id_token"].split(".")
        claims = {**_claims(token["id_token"]), "sub": "0b7e5c1a-admin"}  # pretend to be someone else
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return {**token, "id_token": f"{header}.{payload}.{signature}"}

    tamper(change)
    app = oidc_app()
    person = browser(app)
    _refused(person.login("alice", "alice-idp-pw"), 403, "could not be verified")
    assert person.user_id() is None and "signature not valid" in caplog.text


def test_replayed_state_is_refused(oidc_app, browser) -> None:
    app = oidc_app()
    person = browser(app)
    params = person.at_provider(person.authorize_url(), "alice", "alice-idp-pw")
    with person.client.session_transaction() as saved:
        old_cookie = dict(saved)
    assert person.callback(params).status_code == 302
    _refused(person.callback(params), 400, "already used")  # the same browser, again
    thief = browser(app)
    with thief.client.session_transaction() as session:
        session.update(old_cookie)  # a copy of the cookie from before the first callback
    _refused(thief.callback(params), 400, "already used")
    assert thief.user_id() is None


def test_state_from_another_browser_is_refused(oidc_app, browser) -> None:
    app = oidc_app()
    attacker, victim = browser(app), browser(app)
    params = attacker.at_provider(attacker.authorize_url(), "alice", "alice-idp-pw")
    _refused(victim.callback(params), 400, "started in another browser")  # login CSRF
    assert victim.user_id() is None


def test_missing_or_forged_state_is_refused(oidc_app, browser) -> None:
    app = oidc_app()
    person = browser(app)
    params = person.at_provider(person.authorize_url(), "alice", "alice-idp-pw")
    _refused(person.callback({k: v for k, v in params.items() if k != "state"}), 400, "expired")
    _refused(person.callback({**params, "state": "x" * 43}), 400, "expired")


def test_wrong_nonce_is_refused(oidc_app, browser, caplog) -> None:
    app = oidc_app()
    person = browser(app)
    url = urlsplit(person.authorize_url())
    query = dict(parse_qsl(url.query))
    query["nonce"] = "attacker-chosen-nonce-0123456789abcdef"  # the provider signs whatever nonce it got
    params = person.at_provider(urlunsplit(url._replace(query=urlencode(query))), "alice", "alice-idp-pw")
    _refused(person.callback(params), 403, "could not be verified")
    assert "nonce" in caplog.text and person.user_id() is None


def test_expired_id_token_is_refused(oidc_app, browser, tamper, caplog) -> None:
    def late(token: dict[str, Any]) -> dict[str, Any]:
        time.sleep(2.2)  # the short-lived client's ID tokens live 1 second
        return token

    tamper(late)
    app = oidc_app(client_id="short-lived", client_secret="short-lived-secret", clock_skew_seconds=0)
    person = browser(app)
    _refused(person.login("alice", "alice-idp-pw"), 403, "clock skew")
    assert "expired" in caplog.text and person.user_id() is None


def test_clock_skew_is_named(oidc_app, browser, monkeypatch, caplog) -> None:
    app = oidc_app(clock_skew_seconds=30)
    person = browser(app)
    url = person.authorize_url()
    params = person.at_provider(url, "alice", "alice-idp-pw")
    monkeypatch.setattr(client_module, "now", lambda: time.time() - 600)  # this server's clock is 10 min slow
    with caplog.at_level(logging.WARNING):
        _refused(person.callback(params), 403, "clocks of this help desk and Test IdP differ")
    assert "in the future" in caplog.text


def test_token_for_another_audience_is_refused(oidc_app, browser, tamper, caplog) -> None:
    other = oidc_app(client_id="other-app", client_secret="other-app-secret")
    app = oidc_app()
    person = browser(app)
    url = urlsplit(person.authorize_url())
    nonce = dict(parse_qsl(url.query))["nonce"]
    params = person.at_provider(url.geturl(), "alice", "alice-idp-pw")
    stolen: dict[str, Any] = {}

    def keep(token: dict[str, Any]) -> dict[str, Any]:
        stolen.update(token)
        return token

    tamper(keep)  # another application's login, with the same nonce, yields a genuine token for that app
    accomplice = browser(other)
    other_url = urlsplit(accomplice.authorize_url())
    other_query = {**dict(parse_qsl(other_url.query)), "nonce": nonce}
    other_params = accomplice.at_provider(urlunsplit(other_url._replace(query=urlencode(other_query))),
                                          "alice", "alice-idp-pw")
    accomplice.callback(other_params)  # (refused there: its nonce is not the accomplice's own)
    assert _claims(stolen["id_token"])["aud"] == "other-app" and _claims(stolen["id_token"])["nonce"] == nonce
    caplog.clear()
    foreign = stolen["id_token"]
    tamper(lambda token: {**token, "id_token": foreign})
    _refused(person.callback(params), 403, "could not be verified")
    assert "aud" in caplog.text and person.user_id() is None


def test_mixed_up_issuer_is_refused(oidc_app, browser, caplog) -> None:
    app = oidc_app()
    person = browser(app)
    params = person.at_provider(person.authorize_url(), "alice", "alice-idp-pw")
    _refused(person.callback({**params, "iss": "https://evil.example"}), 403, "could not be verified")
    assert "callback names issuer" in caplog.text
