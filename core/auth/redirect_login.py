"""Redirect logins (single sign-on): the part core owns around the ``auth_redirect_*`` hooks.

Core makes the ``state`` of every attempt (256 random bits), binds it to the browser's signed session, lets it
be used once within :data:`FLOW_SECONDS`, and keeps what the plugin asked to keep (PKCE verifier, nonce). On
the callback it resolves the plugin's :class:`core.types.Identity` to an account:

1. ``identity.user_id`` - that account;
2. a linked external sign-in (``external_logins``) - the linked account (it keeps its own role: the
   provider's role mapping applies only to the accounts the provider owns);
3. the account this provider created earlier (``users.provider`` + ``users.external_id``) - refreshed;
4. another account holding the same email address - linked only after its password is proven, when the
   provider's ``link_existing`` is ``"password"`` and the provider vouches for the address; refused otherwise;
5. nobody - a new account owned by the provider (``user_registered`` is announced).

Failures raise :class:`RedirectLoginError`, whose title and detail are what the person reads; the reason
goes to the ``plugdesk.auth`` log for the admin.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from flask import session
from sqlalchemy import select

from core.app_state import AppState
from core.auth.external_logins import link, linked_user_id
from core.auth.login import unavailable_message
from core.models import AuditEntry, User
from core.ops.web import count_login
from core.plugins import StartupError
from core.types import AuthResult, AuthStatus, Identity, RedirectProviderInfo, RedirectStart, RequestInfo, UserInfo
from core.users import AccountError, normalize_email

log = logging.getLogger("plugdesk.auth")

FLOW_SECONDS = 600
MAX_FLOWS = 4
KEEP_LIMIT = 2048
LINK_POLICIES = ("password", "never")
SESSION_FLOWS = "sso_flows"
SESSION_LINK = "sso_link"
SESSION_PROVIDER = "sso"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_USERNAME_CHARS = re.compile(r"[^\w.@+-]+")


class RedirectLoginError(Exception):
    """A redirect login that cannot go on; ``title`` and ``detail`` are shown to the person."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


@dataclass(frozen=True)
class RedirectProvider:
    """A redirect provider and the plugin that serves it."""

    plugin: str
    info: RedirectProviderInfo


class LinkRequired(Exception):  # noqa: N818 - a branch of the flow, not an error
    """The person must prove the password of ``user`` before ``identity`` is linked to it."""

    def __init__(self, user: UserInfo, identity: Identity, target: str) -> None:
        super().__init__(f"link {identity.provider} to account {user.username!r}")
        self.user, self.identity, self.target = user, identity, target


@dataclass(frozen=True)
class Completed:
    """A finished redirect login: who, through which provider, and where to go next."""

    user: UserInfo
    provider: str
    target: str
    mfa: bool = False  # the provider vouched for a second factor (Identity.mfa): core's own step is skipped


# ----------------------------------------------------------------------------- startup
def collect(state: AppState) -> dict[str, RedirectProvider]:
    """Ask every plugin for its redirect providers (``auth_redirect_providers``) and check them.

    :raises StartupError: for a provider the plugin did not declare as external in ``auth_providers``, a
        duplicate or unusable name, an unknown linking rule, or a plugin missing the begin/complete hooks.
    """
    found: dict[str, RedirectProvider] = {}
    for plugin, result in state.host.startup_each("auth_redirect_providers", ctx=state.ctx):
        declared = {p.name: p for p in state.plugin_providers.get(plugin, [])}
        for info in result or []:
            where = f"plugin {plugin!r}: redirect provider {getattr(info, 'name', info)!r}"
            if not isinstance(info, RedirectProviderInfo):
                raise StartupError(f"{where} is a {type(info).__name__}; return RedirectProviderInfo values")
            if not _NAME.match(info.name):
                raise StartupError(f"{where}: use 1-64 letters, digits, '_' or '-' (the name is part of the "
                                   "callback URL)")
            if info.name not in declared or not declared[info.name].external:
                raise StartupError(f"{where} must also be returned by the plugin's auth_providers with "
                                   "external=True")
            if info.link_existing not in LINK_POLICIES:
                raise StartupError(f"{where}: link_existing must be 'password' or 'never', not "
                                   f"{info.link_existing!r}")
            if info.name in found:
                raise StartupError(f"{where} is declared twice")
            for hook in ("auth_redirect_begin", "auth_redirect_complete"):
                if not state.host.implements(plugin, hook):
                    raise StartupError(f"{where}: the plugin does not implement {hook}")
            found[info.name] = RedirectProvider(plugin, info)
    return found


def providers(state: AppState) -> dict[str, RedirectProvider]:
    """The app's redirect providers by name (collected at startup)."""
    return state.extras.get("redirect_providers", {})


def callback_url(state: AppState, name: str) -> str:
    """The exact redirect URI to register at the provider: ``[server] base_url`` + ``/login/sso/NAME/callback``."""
    return f"{state.settings.get('server', 'base_url').rstrip('/')}/login/sso/{name}/callback"


def _provider(state: AppState, name: str) -> RedirectProvider:
    found = providers(state).get(name)
    if found is None:
        raise RedirectLoginError(404, "Unknown sign-in method",
                                 "This help desk does not offer that way of signing in. Go back to the login page "
                                 "and choose one of the buttons there.")
    return found


def _unreachable(label: str) -> RedirectLoginError:
    return RedirectLoginError(503, f"{label} cannot be reached", unavailable_message([label]))


def _failed(label: str) -> RedirectLoginError:
    return RedirectLoginError(502, "Signing in did not work",
                              f"Signing in with {label} did not work. Please try again; if it keeps failing, tell "
                              "the help desk's administrators (they can see why in the server log).")


def _http_url(url: object) -> bool:
    """An http(s) URL without control characters (it goes into a ``Refresh`` header and a page)."""
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https") \
        and not any(ord(c) < 32 or c == "\x7f" for c in url)


# ----------------------------------------------------------------------------- begin
def begin(state: AppState, name: str, target: str) -> str:
    """Start an attempt: make ``state``, ask the plugin for the provider's URL, remember the attempt."""
    provider = _provider(state, name)
    label = provider.info.label
    token = secrets.token_urlsafe(32)
    try:
        start = state.host.one(provider.plugin, "auth_redirect_begin", provider=name,
                               redirect_uri=callback_url(state, name), state=token, ctx=state.ctx)
    except Exception as exc:  # the provider's metadata did not load, ...: the person reads "unreachable"
        log.warning("redirect login via %s: plugin %s could not begin: %s: %s", name, provider.plugin,
                    exc.__class__.__name__, exc)
        raise _unreachable(label) from exc
    keep = dict(getattr(start, "keep", None) or {})
    url = getattr(start, "url", "")
    problem = ("not a RedirectStart" if not isinstance(start, RedirectStart)
               else "the URL is not http(s)" if not _http_url(url)
               else "the URL does not carry the state core made" if token not in url
               else "keep holds more than 2 KB or non-strings"
               if len(repr(keep)) > KEEP_LIMIT or not all(isinstance(v, str) for v in keep.values()) else "")
    if problem:
        log.error("redirect login via %s: plugin %s returned an unusable start (%s)", name, provider.plugin, problem)
        raise _failed(label)
    now = int(time.time())
    flows = {k: v for k, v in (session.get(SESSION_FLOWS) or {}).items() if now - v.get("t", 0) < FLOW_SECONDS}
    for old in sorted(flows, key=lambda k: flows[k]["t"])[:max(0, len(flows) - MAX_FLOWS + 1)]:
        del flows[old]
    flows[token] = {"p": name, "k": keep, "n": target, "t": now}
    session[SESSION_FLOWS] = flows
    return url


# ----------------------------------------------------------------------------- callback
def complete(state: AppState, name: str, params: dict[str, str], request: RequestInfo) -> Completed:
    """Check ``state``, let the plugin check the provider's answer, and find or create the account.

    :raises LinkRequired: the person must prove an existing account's password first.
    :raises RedirectLoginError: refused; the reason is logged.
    """
    provider = _provider(state, name)
    label = provider.info.label
    token = params.get("state", "")
    flows = dict(session.get(SESSION_FLOWS) or {})
    flow = flows.pop(token, None) if token else None
    session[SESSION_FLOWS] = flows
    if (flow is None or flow.get("p") != name or time.time() - flow.get("t", 0) >= FLOW_SECONDS
            or not _first_use(state, token)):
        log.warning("redirect login via %s from %s refused: unknown, expired, replayed or foreign state",
                    name, request.remote_addr)
        count_login(state, "failed")
        raise RedirectLoginError(400, "This sign-in attempt has expired",
                                 "It was already used, is older than 10 minutes, or was started in another "
                                 "browser. Go back to the login page and start again.")
    try:
        result = state.host.one(provider.plugin, "auth_redirect_complete", provider=name, params=params,
                                kept=flow.get("k", {}), redirect_uri=callback_url(state, name), request=request,
                                ctx=state.ctx)
    except Exception as exc:
        log.error("redirect login via %s: plugin %s raised; refused (fail closed): %s: %s", name, provider.plugin,
                  exc.__class__.__name__, exc, exc_info=exc)
        count_login(state, "failed")
        raise _failed(label) from exc
    identity = _identity(state, provider, result, request)
    user = _account(state, provider, identity, flow.get("n", ""))
    return Completed(user, name, flow.get("n", ""), mfa=identity.mfa is True)


def _first_use(state: AppState, token: str) -> bool:
    """Mark ``state`` used in the shared counter store; a second use (a replay with an old cookie) fails."""
    key = "sso-state:" + hashlib.sha256(token.encode()).hexdigest()
    try:
        return bool(state.ctx.limits.claim(key, FLOW_SECONDS))
    except Exception as exc:  # shared store down: the session cookie alone guards the attempt
        log.warning("redirect login: cannot record state use (%s); relying on the session", exc)
        return True


def _identity(state: AppState, provider: RedirectProvider, result: Any, request: RequestInfo) -> Identity:
    name, label = provider.info.name, provider.info.label
    if not isinstance(result, AuthResult):
        log.error("redirect login via %s: plugin %s returned %s, not an AuthResult; refused", name, provider.plugin,
                  type(result).__name__)
        count_login(state, "failed")
        raise _failed(label)
    if result.status is AuthStatus.UNAVAILABLE:
        log.warning("redirect login via %s from %s: provider unavailable: %s", name, request.remote_addr,
                    result.reason)
        count_login(state, "unavailable")
        error = _unreachable(label)
        if result.message:
            error.detail = result.message
        raise error
    if result.status is AuthStatus.DENIED or result.identity is None:
        log.warning("redirect login via %s from %s refused: %s", name, request.remote_addr,
                    result.reason or "ok without an identity")
        count_login(state, "failed")
        raise RedirectLoginError(403, "Signing in did not work", result.message or _failed(label).detail)
    identity = result.identity
    if identity.provider != name or (identity.user_id is None and not identity.external_id):
        log.error("redirect login via %s: plugin %s returned an identity for %r without external_id or user_id; "
                  "refused", name, provider.plugin, identity.provider)
        count_login(state, "failed")
        raise _failed(label)
    return identity


def _account(state: AppState, provider: RedirectProvider, identity: Identity, target: str) -> UserInfo:
    """Resolve ``identity`` to an active account (steps 1-5 of the module docstring)."""
    ctx, name, label = state.ctx, provider.info.name, provider.info.label
    user: UserInfo | None
    if identity.user_id is not None:
        user = ctx.users.get(identity.user_id)
    else:
        external_id = str(identity.external_id)
        linked = linked_user_id(state.db, name, external_id)
        if linked is not None:  # an account of another provider: its role stays as its admins set it
            user = ctx.users.get(linked)
        elif _owned(state, name, external_id):
            user = _link_external(state, identity, label)
        else:
            other = _same_email(state, identity.email)
            if other is not None:
                if provider.info.link_existing == "password" and identity.email_verified:
                    raise LinkRequired(other, identity, target)
                log.warning("redirect login via %s: %r (subject %s) has the address of account %r; linking is %s",
                            name, identity.email, external_id, other.username,
                            "off" if provider.info.link_existing == "never" else "refused for an unverified address")
                count_login(state, "failed")
                raise RedirectLoginError(409, "An account with this email address exists",
                                         f"This help desk already has an account for {identity.email}. Sign in "
                                         "with its username and password instead.")
            user = _link_external(state, replace(identity, username=_free_username(state, identity, name)), label)
            state.host.notify("user_registered", user=user, ctx=ctx)
    if user is None or not user.is_active:
        log.warning("redirect login via %s: account %s is missing or disabled; refused", name,
                    user.username if user else identity.user_id)
        count_login(state, "failed")
        raise RedirectLoginError(403, "This account is disabled",
                                 "Your account on this help desk has been disabled, so you cannot sign in. "
                                 "Contact the help desk's administrators if you think this is a mistake.")
    return user


def _owned(state: AppState, name: str, external_id: str) -> bool:
    with state.db.engine.connect() as conn:
        return conn.execute(select(User.id).where(User.provider == name, User.external_id == external_id)).first() \
            is not None


def _same_email(state: AppState, email: str) -> UserInfo | None:
    if not email:
        return None
    try:
        _shown, key = normalize_email(email)
    except AccountError:
        return None
    with state.db.engine.connect() as conn:
        user_id = conn.execute(select(User.id).where(User.email_key == key).order_by(User.id).limit(1)).scalar()
    return state.ctx.users.get(user_id) if user_id is not None else None


def _link_external(state: AppState, identity: Identity, label: str) -> UserInfo:
    try:
        return state.ctx.users.link_external(identity)
    except AccountError as exc:
        log.warning("redirect login via %s: the account cannot be created or refreshed (%s: %s)", identity.provider,
                    exc.field, exc.message)
        count_login(state, "failed")
        raise RedirectLoginError(400, "Your account cannot be set up",
                                 f"{label} sent details this help desk cannot use ({exc.field}: {exc.message}) "
                                 "Tell the help desk's administrators.") from exc


def _free_username(state: AppState, identity: Identity, name: str) -> str:
    """A username for a new account: the provider's, else a variant nobody holds yet."""
    base = _USERNAME_CHARS.sub("-", identity.username or identity.email.split("@")[0]).strip("-.")[:120]
    base = base or f"{name}-{hashlib.sha256(str(identity.external_id).encode()).hexdigest()[:10]}"
    for candidate in [base, f"{base}-{name}"[:150]] + [f"{base}-{secrets.token_hex(3)}" for _ in range(5)]:
        if state.ctx.users.find(candidate) is None:
            return candidate
    return f"{name}-{secrets.token_hex(8)}"


# ----------------------------------------------------------------------------- linking an existing account
def remember_link(pending: LinkRequired) -> None:
    """Keep a pending link in the session until the person proves the account's password."""
    identity = pending.identity
    session[SESSION_LINK] = {"p": identity.provider, "x": identity.external_id, "u": pending.user.id,
                             "n": pending.target, "t": int(time.time())}


def pending_link(state: AppState) -> tuple[dict[str, Any], UserInfo] | None:
    """The pending link of this session and its account, if still valid."""
    data = session.get(SESSION_LINK)
    if not isinstance(data, dict) or time.time() - data.get("t", 0) >= FLOW_SECONDS \
            or data.get("p") not in providers(state):
        return None
    user = state.ctx.users.get(data.get("u", 0))
    return (data, user) if user is not None and user.is_active else None


def finish_link(state: AppState, data: dict[str, Any], user: UserInfo, ip: str) -> Completed:
    """The password was proven: link the external sign-in to ``user`` and record it in the audit log."""
    link(state.db, data["p"], data["x"], user.id)
    with state.db.session() as s:
        s.add(AuditEntry(actor=user.username, ip=ip, action="auth.sso_link", target=user.username,
                         new={"provider": data["p"], "subject": data["x"]}))
    session.pop(SESSION_LINK, None)
    log.info("redirect login: %s linked to account %r after its password was proven", data["p"], user.username)
    return Completed(user, data["p"], data.get("n", ""))


# ----------------------------------------------------------------------------- logout
def logout_url(state: AppState, user: UserInfo, provider_name: str | None) -> str | None:
    """The provider's logout URL for a session that began with ``provider_name`` (RP-initiated logout)."""
    provider = providers(state).get(provider_name or "")
    if provider is None or not state.host.implements(provider.plugin, "auth_redirect_logout"):
        return None
    home = state.settings.get("server", "base_url").rstrip("/") + "/"
    try:
        url = state.host.one(provider.plugin, "auth_redirect_logout", provider=provider.info.name, user=user,
                             post_logout_redirect_uri=home, ctx=state.ctx)
    except Exception as exc:
        log.warning("logout via %s: plugin %s failed (%s: %s); local logout only", provider.info.name,
                    provider.plugin, exc.__class__.__name__, exc)
        return None
    if url is not None and not _http_url(url):
        log.error("logout via %s: plugin %s returned %r, not an http(s) URL; ignored", provider.info.name,
                  provider.plugin, url)
        return None
    return url
