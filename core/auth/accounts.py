"""Account operations shared by the portal, the API and the CLI: register, set and change passwords."""

from __future__ import annotations

from sqlalchemy import update

from core.app_state import AppState
from core.auth import tokens
from core.auth.login import authenticate, check_new_password
from core.auth.sessions import end_all_sessions
from core.db import joining
from core.models import User
from core.types import RequestInfo, UserInfo
from core.users import AccountError


class PasswordRejected(AccountError):
    """The password fails one or more rules; ``problems`` lists each one."""

    def __init__(self, problems: list[str], field: str = "password") -> None:
        super().__init__(field, " ".join(problems))
        self.problems = problems

    @property
    def messages(self) -> list[str]:
        """Each failed password requirement."""
        return self.problems


def set_password(state: AppState, user: UserInfo, password: str, *, check_rules: bool = True) -> None:
    """Validate ``password`` and hand it to the provider that owns ``user``."""
    info = state.provider(user.provider)
    if info is None or info.external:
        raise AccountError("password", f"This account's password is managed by {state.provider_label(user.provider)}; "
                                       "change it there.")
    if check_rules:
        problems = check_new_password(state, password, user.username)
        if problems:
            raise PasswordRejected(problems)
    stored = state.host.first("auth_set_password", user=user, password=password, ctx=state.ctx)
    if not stored:
        raise AccountError("password", "No enabled auth plugin can store a password for this account.")
    with state.db.session() as s:
        s.execute(update(User).where(User.id == user.id).values(must_change_password=False))
    # a reset link sent before the password changed (by the user, an admin or the CLI) must not work after
    tokens.revoke(state.db, user.id, "password_reset")


def register(state: AppState, *, username: str, email: str, password: str, display_name: str = "",
             role: str = "user", verified: bool = False) -> UserInfo:
    """Create a local account with a password and, unless ``verified``, its "Confirm your email" message.

    One transaction: the account, its password (``auth_set_password`` writes through ``ctx.credentials``,
    which joins it) and the outbox row commit together, or nothing is left behind. ``user_registered`` is
    told after the commit.
    """
    provider = state.registration_provider()
    if provider is None:
        raise AccountError("username", "Registration is not available: no enabled plugin creates accounts.")
    problems = check_new_password(state, password, username)
    if problems:
        raise PasswordRejected(problems)
    from core.auth.verification import send_verification

    with state.db.session() as s, joining(s):
        user = state.ctx.users.create(username=username, email=email, display_name=display_name, role=role,
                                      provider=provider.name, verified=verified)
        if not state.host.first("auth_set_password", user=user, password=password, ctx=state.ctx):
            raise AccountError("password", "No enabled auth plugin can store a password for this account.")
        if not verified:
            send_verification(state, user, session=s)
    state.host.notify("user_registered", user=user, ctx=state.ctx)
    return user


def change_password(state: AppState, user: UserInfo, current: str, new: str, request: RequestInfo) -> None:
    """Check the current password through the auth chain, set the new one, end every other session."""
    outcome = authenticate(state, user.username, current, request)
    if outcome.user is None or outcome.user.id != user.id:
        raise AccountError("current_password", "The current password is not correct.")
    if new == current:
        raise PasswordRejected(["Choose a password different from the current one."], field="new_password")
    try:
        set_password(state, user, new)
    except PasswordRejected as exc:
        raise PasswordRejected(exc.problems, field="new_password") from None
    end_all_sessions(state.db, user.id)


def flag_noncompliant_password(state: AppState, user: UserInfo, password: str) -> bool:
    """After a successful login: with ``security.password.enforce_on_existing`` on, mark a local account whose
    password breaks the current rules so it must change it now. Returns whether the account is flagged."""
    info = state.provider(user.provider)
    if info is None or info.external or not state.runtime.get("security.password.enforce_on_existing"):
        return False
    if not check_new_password(state, password, user.username):
        return False
    with state.db.session() as s:
        s.execute(update(User).where(User.id == user.id).values(must_change_password=True))
    return True
