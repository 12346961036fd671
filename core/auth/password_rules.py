"""Password requirements (``security.password.*``), checked whenever a password is set."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from importlib import resources
from typing import Any

MAX_LENGTH = 1024


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords (lower-cased)."""
    text = resources.files("core.security").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def password_problems(password: str, username: str, setting: Callable[[str], Any]) -> list[str]:
    """Every requirement ``password`` fails, as messages for the user (empty list = acceptable)."""
    if not password or not password.strip():
        return ["Enter a password (spaces alone are not a password)."]
    problems: list[str] = []
    length = len(unicodedata.normalize("NFC", password))
    minimum = setting("security.password.min_length")
    if length < minimum:
        problems.append(f"Use at least {minimum} characters.")
    if length > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if setting("security.password.require_number") and not any(c.isdigit() for c in password):
        problems.append("Include a number.")
    if setting("security.password.require_upper") and not any(c.isupper() for c in password):
        problems.append("Include an uppercase letter.")
    if setting("security.password.require_lower") and not any(c.islower() for c in password):
        problems.append("Include a lowercase letter.")
    if setting("security.password.require_symbol") and all(c.isalnum() or c.isspace() for c in password):
        problems.append("Include a symbol (such as ! ? # or %).")
    if setting("security.password.disallow_username") and username and \
            password.strip().casefold() == username.strip().casefold():
        problems.append("Do not use your username as your password.")
    if password.casefold() in common_passwords():
        problems.append("This password is one of the most common ones; choose another.")
    return problems
