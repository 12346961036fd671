'''The ``redirect`` area of ``plugdesk plugin new``: a single sign-on plugin (OAuth 2 / OpenID Connect / SAML)
on the ``auth_redirect_*`` hooks, tested by ``core.testing.RedirectLoginContract``.

The scaffold loads (its provider is declared and the button shows), but ``auth_redirect_begin`` and
``auth_redirect_complete`` raise ``NotImplementedError`` and the ``sign_in`` fixture is a TODO, so the
contract suite fails until they are written. docs/writing-plugins.md walks through a finished example (a
hosting control panel's OAuth login).
'''

from __future__ import annotations

from typing import Any

#: The fields of :class:`core.plugin_kit.areas.Area` for the redirect area (areas.py builds it).
REDIRECT_PARTS: dict[str, Any] = dict(
    imports=("from core import (\n    AuthProviderInfo, AuthResult, ConfigModel, RedirectProviderInfo, "
             "RedirectStart, RequestInfo,\n    hookimpl, parse_plugin_config,\n)"),
    keys=('    label: str = "TODO: the button says Sign in with LABEL"\n'
          '    authorize_url: str = ""  # TODO: the provider\'s authorization endpoint\n'
          '    client_id: str = ""\n'
          '    client_secret: str = ""  # in plugdesk.toml as { "$env" = "NAME" } or { "$file" = "path" }'),
    hooks=("auth_providers", "auth_redirect_begin", "auth_redirect_complete", "auth_redirect_providers",
           "parse_config"),
    body='''

@hookimpl
def auth_providers(ctx: Any) -> list[AuthProviderInfo]:
    """The provider is external: its accounts never get a local password or a reset email."""
    return [AuthProviderInfo(name=NAME, label=ctx.plugin_config(NAME)["label"], external=True, registration=False)]


@hookimpl
def auth_redirect_providers(ctx: Any) -> list[RedirectProviderInfo]:
    """The "Sign in with LABEL" button on the login page.

    ``link_existing``: ``"never"`` (a local account with the same address refuses the login) or
    ``"password"`` (linked once its password is proven; only for addresses you report as verified).
    """
    return [RedirectProviderInfo(name=NAME, label=ctx.plugin_config(NAME)["label"], link_existing="never")]


@hookimpl
def auth_redirect_begin(provider: str, redirect_uri: str, state: str, ctx: Any) -> RedirectStart:
    """Where to send the browser: the provider's authorization URL carrying ``state`` and ``redirect_uri``.

    Core made ``state`` and checks it on the callback. Put what the callback needs (a PKCE verifier, a
    nonce; short strings, at most 2 KB) in ``keep``; core hands it back as ``kept``. Raise when the provider
    cannot be asked (the person reads "cannot be reached"), e.g.::

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": ..., "redirect_uri": redirect_uri,
                           "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        return RedirectStart(url=f"{authorize_url}?{query}", keep={"verifier": verifier})
    """
    raise NotImplementedError(f"{NAME}: auth_redirect_begin is not written yet (TODO in {__name__})")


@hookimpl
def auth_redirect_complete(provider: str, params: Mapping[str, str], kept: Mapping[str, str], redirect_uri: str,
                           request: RequestInfo, ctx: Any) -> AuthResult:
    """The callback's query ``params`` (``code``, or ``error`` when the person cancelled): trade the code for
    tokens, check them, and say who the person is.

    Return ``AuthResult.ok(Identity(provider=NAME, username=..., external_id=<stable id>, email=...,
    email_verified=..., role=...))`` (``from core import Identity``); ``AuthResult.denied(reason, message)``
    for a refusal (``message`` is what the person reads, ``reason`` goes to the admin's log);
    ``AuthResult.unavailable(reason)`` when the provider is down. Never raise for a bad answer: a result is a
    readable page, an exception a generic one.
    """
    raise NotImplementedError(f"{NAME}: auth_redirect_complete is not written yet (TODO in {__name__})")
''',
    test_imports="from core.testing import RedirectLoginContract",
    tests='''

class Test__CLASS__Contract(RedirectLoginContract):
    """Everything plugdesk expects from a redirect login: the hooks, and the round trip through core's pages."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    overrides = {"server": {"base_url": "http://rp.test"},
                 "plugins": {"__NAME__": {"label": "Test panel", "authorize_url": "http://127.0.0.1:9/authorize",
                                          "client_id": "plugdesk", "client_secret": "s3cret"}}}
    invalid_config = {"authorize_url": 42}  # values parse_config must refuse, naming the key

    @pytest.fixture
    def sign_in(self) -> Any:
        """TODO: start a test provider in a fixture (and point authorize_url at it); here, play the person:
        open ``url`` there, log in as a test account, and return the query the provider redirects back with
        (``{"code": ..., "state": ...}``)."""
        def at_provider(url: str) -> dict[str, str]:
            raise NotImplementedError("TODO: sign in at your test provider and return the callback's query")
        return at_provider
''')
