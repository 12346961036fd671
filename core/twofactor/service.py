"""Two-factor login: who has a second factor, who must have one, the second step, and the admin reset.

Every auth provider benefits (local, LDAP, AD): :func:`core.auth.login.authenticate` checks the password
through the chain, then reports ``second_factor=True`` for accounts that have one, and nothing (no session,
no token, no reset of the failure count) happens until :func:`second_step` accepts a code or a passkey.
Wrong codes count toward the brute-force lockout of the account, exactly like wrong passwords.

Policy (``security.twofactor.*``): ``required_for`` names the roles that must have a second factor
(``agents`` = agents, managers and admins; ``managers`` = managers and admins; ``admins``); they get
``grace_days`` from when the switch was turned on (or from when their account was created, if later) to
enrol, with a reminder; after that they can do nothing but enrol.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from core.app_state import AppState
from core.auth.login import LoginOutcome, complete_login, record_failure
from core.auth.sessions import end_all_sessions
from core.models import AuditEntry, Setting, User, utcnow
from core.ops.web import count_login
from core.twofactor import passkeys, recovery, totp
from core.twofactor.models import Passkey, TotpSecret
from core.types import RequestInfo, Role, UserInfo
from core.users import normalize_username

log = logging.getLogger("plugdesk.auth.twofactor")

REQUIRED_ROLES: dict[str, tuple[Role, ...]] = {"nobody": (), "admins": Role.at_least(Role.ADMIN),
                                               "managers": Role.at_least(Role.MANAGER),
                                               "agents": Role.at_least(Role.AGENT)}
WRONG_CODE = "The code is not correct, or the account is temporarily locked."
REQUIRED_KEY = "security.twofactor.required_for"


@dataclass(frozen=True)
class Status:
    """A user's second factors and what the policy asks of them."""

    totp: bool
    passkeys: int
    recovery_codes: int
    required: bool
    deadline: datetime | None  # when enrolment becomes compulsory (``None``: not required)

    @property
    def enrolled(self) -> bool:
        """An authenticator app or at least one passkey."""
        return self.totp or self.passkeys > 0


def has_second_factor(state: AppState, user_id: int) -> bool:
    """Whether the account has a confirmed authenticator app or a passkey (one query)."""
    with state.db.engine.connect() as conn:
        return bool(conn.execute(select(
            exists().where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None))
            | exists().where(Passkey.user_id == user_id))).scalar())


def required(state: AppState, role: str) -> bool:
    """Whether ``security.twofactor.required_for`` covers ``role``."""
    return role in REQUIRED_ROLES.get(state.runtime.get(REQUIRED_KEY), ())


def deadline(state: AppState, user: UserInfo | User) -> datetime | None:
    """When ``user`` must have enrolled; ``None`` when the policy does not cover their role."""
    if not required(state, user.role):
        return None
    with state.db.session() as s:
        row = s.get(Setting, REQUIRED_KEY)
        since = row.updated_at if row is not None else utcnow()
    start = max(since, user.created_at) if user.created_at else since
    return start + timedelta(days=int(state.runtime.get("security.twofactor.grace_days")))


def status(state: AppState, user: UserInfo | User) -> Status:
    """Everything the Security page and ``GET /api/v1/me/two-factor`` show."""
    with state.db.session() as s:
        has_totp = s.scalar(select(TotpSecret.user_id).where(TotpSecret.user_id == user.id,
                                                             TotpSecret.confirmed_at.is_not(None))) is not None
    keys = len(passkeys.keys_of(state, user.id))
    due = deadline(state, user)
    return Status(has_totp, keys, recovery.remaining(state.db, user.id), due is not None, due)


def must_enrol_now(state: AppState, user: UserInfo | User) -> bool:
    """The policy covers the user, the grace period is over, and they have no second factor."""
    due = deadline(state, user)
    return due is not None and utcnow() >= due and not has_second_factor(state, user.id)


def _lock_key(user: UserInfo) -> str:
    return normalize_username(user.username)


def second_step(state: AppState, user: UserInfo, request: RequestInfo, *, code: str = "",
                passkey: tuple[object, bytes] | None = None) -> LoginOutcome:
    """Check the second factor of a login whose password was right: a TOTP code, a recovery code, or a
    passkey answer ``(credential, challenge)``. A failure counts toward the account's lockout; while the
    account is locked nothing is accepted."""
    key = _lock_key(user)
    lock = state.lockout.state(key) if state.lockout.enabled() else None
    if lock is not None and lock.locked:
        log.info("second factor for %r refused: account locked", key)
        count_login(state, "locked")
        return LoginOutcome(None, WRONG_CODE)
    method = ""
    if passkey is not None:
        method = "passkey" if passkeys.verify_assertion(state, user.id, passkey[0], passkey[1]) else ""
    elif totp.clean(code):
        method = "totp" if totp.verify(state, user.id, code) else ""
    elif recovery.looks_like_code(code):
        method = "recovery_code" if recovery.use(state.db, user.id, code) else ""
    if not method:
        log.info("second factor for %r from %s refused", key, request.remote_addr)
        record_failure(state, key, lock, request)
        count_login(state, "failed")
        return LoginOutcome(None, WRONG_CODE)
    if method == "recovery_code":
        left = recovery.remaining(state.db, user.id)
        with state.db.session() as s:
            s.add(AuditEntry(actor=user.username, ip=request.remote_addr, action="auth.recovery_code_used",
                             target=user.username, new={"remaining": left}))
        _notify(state, user, "A recovery code was used",
                f"a recovery code was just used to log in to your help desk account {user.username}; "
                f"{left} unused code{'s' if left != 1 else ''} remain. If this was not you, contact your help "
                "desk administrator now.")
    complete_login(state, user, request, key)
    count_login(state, "ok")  # the login counts once every factor passed (password or single sign-on first)
    log.info("login %r from %s completed with %s", key, request.remote_addr, method)
    return LoginOutcome(user)


def reauthenticate(state: AppState, user: UserInfo, password: str, request: RequestInfo) -> bool:
    """Check the current password before a change to the account's second factors (counts toward lockout)."""
    from core.auth.login import authenticate

    outcome = authenticate(state, user.username, password, request)
    return outcome.user is not None and outcome.user.id == user.id


def disable(state: AppState, user: UserInfo, actor: str, ip: str, *, what: str = "all",
            key_id: int | None = None) -> bool:
    """Remove the authenticator app (``what="totp"``), one passkey (``"passkey"`` + ``key_id``) or every
    factor (``"all"``); the recovery codes go with the last factor. Audited. ``False`` if nothing changed."""
    changed = False
    if what in ("totp", "all"):
        changed = totp.remove(state, user.id) or changed
    if what in ("passkey", "all"):
        changed = passkeys.remove(state, user.id, key_id if what == "passkey" else None) > 0 or changed
    if not has_second_factor(state, user.id):
        totp.remove(state, user.id)  # an unfinished enrolment too
        recovery.remove_all(state.db, user.id)
    if changed:
        with state.db.session() as s:
            s.add(AuditEntry(actor=actor, ip=ip, action=f"user.twofactor_remove_{what}", target=user.username,
                             new={"key_id": key_id} if key_id is not None else None))
    return changed


def would_break_policy(state: AppState, user: UserInfo | User, *, what: str, key_id: int | None = None) -> bool:
    """Whether removing this factor would leave a user the policy covers (after the grace) without any."""
    due = deadline(state, user)
    if due is None or utcnow() < due:
        return False
    st = status(state, user)
    left_totp = st.totp and what not in ("totp", "all")
    left_keys = st.passkeys - (1 if what == "passkey" else st.passkeys if what == "all" else 0)
    return not left_totp and left_keys <= 0


def admin_reset(state: AppState, user_id: int, actor: str, ip: str) -> UserInfo:
    """An administrator removes every second factor of a user (lost phone and codes): audited, every session
    and token of the user ended, the user emailed. :raises LookupError: no such user."""
    info = state.ctx.users.get(user_id)
    if info is None:
        raise LookupError(user_id)
    before = status(state, info)
    totp.remove(state, user_id)
    passkeys.remove(state, user_id)
    recovery.remove_all(state.db, user_id)
    end_all_sessions(state.db, user_id)
    with state.db.session() as s:
        s.add(AuditEntry(actor=actor, ip=ip, action="user.twofactor_reset", target=info.username,
                         old={"totp": before.totp, "passkeys": before.passkeys,
                              "recovery_codes": before.recovery_codes}, new=None))
    _notify(state, info, "Your two-factor login was reset",
            f"an administrator ({actor}) removed the second factors (authenticator app, passkeys and recovery "
            f"codes) of your help desk account {info.username}, and every session was logged out. Log in with "
            "your password and set up a second factor again. If you did not ask for this, contact your help desk "
            "administrator now.")
    log.warning("second factors of %r reset by %s", info.username, actor)
    return info


def _notify(state: AppState, user: UserInfo, subject: str, text: str) -> None:
    """Queue a security notice to the user's address (through the outbox)."""
    if not user.email:
        return
    name = user.display_name or user.username
    state.ctx.mailer.send(user.email, subject, f"Hello {name},\n\n{text}\n", to_name=name, related=f"user:{user.id}")
