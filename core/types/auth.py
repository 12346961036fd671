"""Who is calling and how they log in: requests, accounts, identities, password and redirect logins.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RequestInfo:
    """What a plugin may know about the HTTP request that triggered a hook.

    Attributes:
        remote_addr: the client's IP address (v4 or v6) after ``server.trusted_proxies`` was applied, so
            behind a reverse proxy it is the real client, never the proxy.
        user_agent: the ``User-Agent`` header as sent (may be empty; never trust it).
        scheme: ``"http"`` or ``"https"`` as the client used it (after the proxy headers).
        path: the request path, e.g. ``"/login"`` or ``"/api/v1/auth/login"``.
    """

    remote_addr: str = "127.0.0.1"
    user_agent: str = ""
    scheme: str = "http"
    path: str = "/"


@dataclass(frozen=True)
class UserInfo:
    """A user as plugins see it (read-only snapshot, never an ORM object).

    Attributes:
        id: the account's database id (stable; use it to refer to the account).
        username: the display form of the login name, as registered or as the provider gave it
            (look accounts up with ``ctx.users.find``, which case-folds).
        email: the account's address (may be empty for an external account without one).
        display_name: the name shown in the interface (the username when none was given).
        role: ``"user"``, ``"agent"``, ``"manager"`` or ``"admin"`` (a :class:`Role` value).
        provider: the name of the auth provider that owns the account (``AuthProviderInfo.name``), e.g.
            ``"local"``.
        verified: whether the email address was confirmed (or vouched for by an external provider).
        is_active: ``False`` for a disabled account: it cannot log in.
        created_at: when the account was created (aware datetime, UTC).
    """

    id: int
    username: str
    email: str
    display_name: str
    role: str
    provider: str
    verified: bool
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class Identity:
    """Who an auth provider says the caller is.

    Local providers set ``user_id`` to an existing account. External providers (LDAP, AD) leave it
    ``None`` and give a stable ``external_id`` (entryUUID/objectGUID); core links or creates the
    local profile just in time, keyed by ``(provider, external_id)``.

    Attributes:
        provider: the name of the provider that vouches for the person (one of the plugin's
            ``AuthProviderInfo.name``).
        username: the login name to use for a new local profile (ignored when ``user_id`` is set).
        user_id: the existing local account this is (local providers); ``None`` for external providers.
        external_id: a stable, unique id in the provider's own system (never the username, which can
            change); required when ``user_id`` is ``None``.
        email: the person's address; on each login it replaces the profile's address when different.
        display_name: the person's name; on each login it replaces the profile's when not empty.
        email_verified: whether the provider vouches for ``email`` (the profile counts as verified).
        role: a role to set on each login (e.g. mapped from directory groups); ``None`` keeps the
            account's role, or gives ``"user"`` to a new account.
        groups: the groups the provider reported, for information and logging; core does not use them.
        mfa: the provider vouches that the person passed a second factor *with it* in this login (e.g. an
            OpenID Connect ``amr`` claim with ``mfa``/``otp``/``hwk``, and the admin chose to trust that).
            Only redirect logins (``auth_redirect_complete``) use it: core then skips its own second step
            and counts the session as two-factor (the "required for roles" policy is met). ``False``: an
            account with a second factor at plugdesk is asked for it after the provider. Since contract 1.3.
    """

    provider: str
    username: str
    user_id: int | None = None
    external_id: str | None = None
    email: str = ""
    display_name: str = ""
    email_verified: bool = False
    role: str | None = None
    groups: tuple[str, ...] = ()
    mfa: bool = False


class AuthStatus(enum.Enum):
    """Outcome of one provider in the auth chain (returning ``None`` instead means "not mine, ask the next").

    Attributes:
        OK: the credentials are valid; the chain stops and the identity is logged in.
        DENIED: the account is this provider's and the credentials are wrong or refused; the chain stops,
            the person sees the generic failure message and the attempt counts toward the lockout.
        UNAVAILABLE: the provider could not ask its backend; the chain goes on with the next provider. This
            answer never counts toward the lockout; if no later provider decides, the person reads that the
            provider (named by its ``label``) cannot be reached.
    """

    OK = "ok"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AuthResult:
    """Result of ``auth_authenticate``. Returning ``None`` instead defers to the next provider.

    Build it with the class methods :meth:`ok`, :meth:`denied` and :meth:`unavailable`.

    Attributes:
        status: what the provider decided (:class:`AuthStatus`).
        identity: who logged in; set exactly when ``status`` is ``OK``.
        reason: why, for the admin log only (users see one generic message, or the provider's label when
            it is unreachable). Never put the password in it.
        message: what the person reads on the error page of a *redirect* login (``auth_redirect_complete``),
            e.g. "You cancelled signing in with Acme ID."; empty for core's wording. The password chain never
            shows it (its failure message stays generic). Since contract 1.2.
    """

    status: AuthStatus
    identity: Identity | None = None
    reason: str = ""
    message: str = ""

    @classmethod
    def ok(cls, identity: Identity) -> AuthResult:
        """The credentials are valid: stop the chain and log this identity in."""
        return cls(AuthStatus.OK, identity)

    @classmethod
    def denied(cls, reason: str, message: str = "") -> AuthResult:
        """The account is this provider's and the credentials are wrong (or refused): stop the chain.

        ``message`` is shown to the person only after a redirect login (see the ``message`` attribute)."""
        return cls(AuthStatus.DENIED, None, reason, message)

    @classmethod
    def unavailable(cls, reason: str, message: str = "") -> AuthResult:
        """The backend could not be asked (e.g. directory down): the chain goes on with the next provider."""
        return cls(AuthStatus.UNAVAILABLE, None, reason, message)


@dataclass(frozen=True)
class AuthProviderInfo:
    """Describes one provider of an auth plugin.

    Attributes:
        name: the provider's unique name; stored with each account it owns (``UserInfo.provider``).
        label: what people read: the login page, and every message about accounts of this provider
            ("Acme Control Panel cannot be reached right now", "Your password is managed by ...").
        external: the provider owns its passwords elsewhere (LDAP, a control panel): its users never get
            a local password, a password change form or a reset email, whatever the settings say.
        registration: the provider can create accounts with a password set through ``auth_set_password``
            (the portal's registration uses the first such provider in the chain).
    """

    name: str
    label: str
    external: bool
    registration: bool = False


@dataclass(frozen=True)
class RedirectProviderInfo:
    """An auth provider that logs people in by sending the browser elsewhere (OpenID Connect, OAuth, SAML):
    a "Sign in with ..." button on the login page (``auth_redirect_providers``). Since contract 1.2.

    Attributes:
        name: the provider's name: one of the names the same plugin declares in ``auth_providers`` (as an
            ``external`` provider); it appears in the callback URL ``/login/sso/NAME/callback``.
        label: the button reads "Sign in with LABEL"; error pages name the provider by it too.
        link_existing: what happens when the person's verified email address belongs to an account that is
            not yet linked to this provider: ``"password"`` - core asks for that account's password once and
            then links the two (the password login keeps working); ``"never"`` - the sign-in is refused and
            the person is told to use their password.
    """

    name: str
    label: str
    link_existing: str = "never"


@dataclass(frozen=True)
class RedirectStart:
    """Where to send the browser to begin a redirect login (``auth_redirect_begin``). Since contract 1.2.

    Attributes:
        url: the provider's authorization URL, carrying the ``state`` core passed in.
        keep: short strings core keeps for this one login attempt (in the person's signed session, never in
            the URL) and hands back to ``auth_redirect_complete``: a PKCE code verifier, a nonce. At most
            2 KB in all; no long-lived secrets.
    """

    url: str
    keep: Mapping[str, str] = field(default_factory=dict)
