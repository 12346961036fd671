"""The login flow every entry point uses (web form, API, benchmarks): one path through the auth chain."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.app_state import AppState
from core.auth.hashing import equal_work
from core.auth.password_rules import password_problems
from core.models import AuditEntry
from core.ops.web import count_lockout, count_login
from core.plugin_calls import PluginCallError
from core.types import AuthResult, AuthStatus, RequestInfo, UserInfo
from core.users import AccountError, normalize_username

log = logging.getLogger("plugdesk.auth")

GENERIC_FAILURE = "The username or password is incorrect, or the account is temporarily locked."
#: The end of the message shown when every provider that could know the person is down.
UNAVAILABLE_TAIL = "cannot be reached right now. Please try again later."


@dataclass(frozen=True)
class LoginOutcome:
    """The result shown to the caller. ``message`` is the same for every kind of failure."""

    user: UserInfo | None
    message: str = ""
    #: the password was right but the account has a second factor: no session or token until it is checked
    #: (:mod:`core.twofactor.service`); re-authentication (change password, email) may accept it as is
    second_factor: bool = False


def authenticate(app_state: AppState, username: str, password: str, request: RequestInfo) -> LoginOutcome:
    """Run the auth chain for one login attempt.

    Empty or whitespace-only usernames or passwords are refused before any provider is asked.
    An exception in a provider fails the attempt closed and is logged with the plugin's name.
    """
    key = normalize_username(username or "")
    if not key or not password or not password.strip() or len(password) > 4096 or len(key) > 320:
        return LoginOutcome(None, GENERIC_FAILURE)
    account = _find_account(app_state, key)
    lock_key = normalize_username(account.username) if account else key
    lock = app_state.lockout.state(lock_key) if app_state.lockout.enabled() else None
    if lock is not None and lock.locked:
        equal_work(password)  # a locked account answers in about the time of a wrong password
        log.info("login %r from %s refused: account locked", key, request.remote_addr)
        count_login(app_state, "locked")
        return LoginOutcome(None, GENERIC_FAILURE)
    outcome = _run_chain(app_state, key, password, request, account, username)
    user = outcome.user
    if user is not None:
        from core.twofactor.service import has_second_factor

        if has_second_factor(app_state, user.id):  # the failure count stays until the second step
            outcome = LoginOutcome(user, second_factor=True)
        else:
            complete_login(app_state, user, request, lock_key)
    elif outcome.message == GENERIC_FAILURE:  # "unavailable" never counts toward the lockout
        record_failure(app_state, lock_key, lock, request)
    if not outcome.second_factor:  # a login waiting for its second factor is counted by that step
        count_login(app_state, "ok" if outcome.user else "failed" if outcome.message == GENERIC_FAILURE
                    else "unavailable")
    return outcome


def record_failure(app_state: AppState, lock_key: str, lock: Any, request: RequestInfo) -> None:
    """Count one failed login (password or second factor) for ``lock_key``; audit a new lockout."""
    lock = app_state.lockout.record_failure(lock_key, lock)
    if lock.new:
        with app_state.db.session() as s:
            s.add(AuditEntry(actor="system", ip=request.remote_addr, action="auth.lockout", target=lock_key,
                             new={"until": lock.until, "failures": lock.failures}))
        count_lockout(app_state)


def complete_login(app_state: AppState, user: UserInfo, request: RequestInfo, lock_key: str | None = None) -> None:
    """Every factor was checked: reset the failure count, record the login, tell the plugins."""
    app_state.lockout.record_success(lock_key or normalize_username(user.username))
    app_state.ctx.users.touch_login(user.id)
    app_state.host.notify("user_logged_in", user=user, request=request, ctx=app_state.ctx)


def _find_account(app_state: AppState, key: str) -> UserInfo | None:
    """The account a login names (by username, email or ``DOMAIN\\user``), if it exists: its username is the
    lockout key, so every spelling of one account shares one counter."""
    candidates = [key] + ([key.split("\\", 1)[1]] if "\\" in key else [])
    for candidate in candidates:
        user = app_state.ctx.users.find(candidate)
        if user is not None:
            return user
    return None


def unavailable_message(labels: list[str]) -> str:
    """What a person reads when every provider that could know them is down (named by its ``label``)."""
    names = " and ".join(dict.fromkeys(labels)) or "The sign-in provider"
    return f"{names} {UNAVAILABLE_TAIL}"


def _run_chain(app_state: AppState, key: str, password: str, request: RequestInfo,
               account: UserInfo | None, typed: str) -> LoginOutcome:
    ctx = app_state.ctx
    unavailable: list[str] = []

    def decide(plugin: str, result: AuthResult | None) -> bool:
        if result is None:
            return False
        if getattr(result, "status", None) is AuthStatus.UNAVAILABLE:
            log.warning("login %r: provider %s unavailable: %s", key, plugin, result.reason)
            unavailable.append(plugin)
            return False
        return True

    try:
        found = app_state.host.chain("auth_authenticate", decide, username=key, password=password,
                                     request=request, ctx=ctx, username_as_typed=typed)
    except PluginCallError as exc:
        log.error("auth plugin %s raised; login refused (fail closed): %s: %s", exc.plugin,
                  exc.error.__class__.__name__, exc.error, exc_info=exc.error)
        return LoginOutcome(None, GENERIC_FAILURE)
    if found is None:
        if unavailable:
            labels = [p.label for plugin in unavailable for p in app_state.plugin_providers.get(plugin, [])]
            return LoginOutcome(None, unavailable_message(labels))
        log.info("login %r from %s: no provider accepted", key, request.remote_addr)
        return LoginOutcome(None, GENERIC_FAILURE)
    plugin, result = found
    if not isinstance(result, AuthResult):
        log.error("auth plugin %s returned %s, not an AuthResult; login refused", plugin, type(result).__name__)
        return LoginOutcome(None, GENERIC_FAILURE)
    if result.status is AuthStatus.DENIED:
        log.info("login %r from %s denied by %s: %s", key, request.remote_addr, plugin, result.reason)
        return LoginOutcome(None, GENERIC_FAILURE)
    identity = result.identity
    if identity is None:
        log.error("auth plugin %s returned ok without an identity; login refused", plugin)
        return LoginOutcome(None, GENERIC_FAILURE)
    try:
        if identity.user_id is not None:  # the account looked up at the start of this login, usually
            user = account if account and account.id == identity.user_id else ctx.users.get(identity.user_id)
        else:
            user = ctx.users.link_external(identity) if identity.external_id else None
    except AccountError as exc:  # e.g. a new directory entry whose name an existing profile holds
        log.error("login %r via %s: the local profile cannot be created or linked (%s: %s); login refused",
                  key, plugin, exc.field, exc.message)
        return LoginOutcome(None, GENERIC_FAILURE)
    if user is None or not user.is_active:
        log.info("login %r denied: account missing or disabled", key)
        return LoginOutcome(None, GENERIC_FAILURE)
    log.info("login %r from %s: password accepted by %s", key, request.remote_addr, plugin)
    return LoginOutcome(user)


def check_new_password(app_state: AppState, password: str, username: str) -> list[str]:
    """Password rules with the current runtime settings."""
    return password_problems(password, username, app_state.runtime.get)
