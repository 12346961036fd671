"""Greeting on the portal home: "Welcome back" only for people who have been here before."""

from __future__ import annotations

from datetime import timedelta

from core.models import User

#: A login this long after the account was created counts as coming back (registration logs in at once).
FIRST_VISIT = timedelta(minutes=30)


def returning(user: User | None) -> bool:
    """Whether ``user`` logged in again after the visit that created the account.

    A self-registered account has no ``last_login_at`` until its first login after registering; an account
    created by an administrator gets one at its first login, so a login soon after creation is a first visit.
    """
    if user is None or user.last_login_at is None or user.created_at is None:
        return False
    return user.last_login_at - user.created_at > FIRST_VISIT
