"""Registration reports every problem at once: missing fields, the captcha, the repeated password, the
username, the email address and each password rule, before anything is created."""

from __future__ import annotations

from typing import Any

from core.auth.login import check_new_password
from core.captcha import check_captcha
from core.users import AccountError, normalize_email, normalize_username, validate_username

LABELS = {"username": "Username", "email": "Email address", "display_name": "Display name",
          "password": "Password", "confirm": "Repeat the password", "captcha": "Captcha", "csrf_token": "Form"}


def registration_problems(st: Any, form: Any, posted: Any, remote_addr: str) -> dict[str, list[str]]:
    """Every problem of a submitted :class:`core.web.forms.RegisterForm`, by field (empty: go ahead).

    :param form: the form after ``validate()`` (required fields, CSRF).
    :param posted: ``request.form`` (the captcha's own fields).
    """
    errors: dict[str, list[str]] = {k: list(v) for k, v in form.errors.items()}
    if "csrf_token" in errors:
        return {"csrf_token": ["The form expired. Please fill it in again."]}
    verdict = check_captcha(st, posted, "register", remote_addr)
    if not verdict.ok:
        errors["captcha"] = [verdict.message]
    username, email = form.username.data or "", form.email.data or ""
    password, confirm = form.password.data or "", form.confirm.data or ""
    if "username" not in errors:
        try:
            validate_username(username)
        except AccountError as exc:
            errors["username"] = exc.messages
        else:
            found = st.ctx.users.find(username)
            if found is not None and normalize_username(found.username) == normalize_username(username):
                errors["username"] = ["This username is taken. Choose another one."]
    if "email" not in errors:
        try:
            normalize_email(email)
        except AccountError as exc:
            errors["email"] = exc.messages
    if len(form.display_name.data or "") > 200:
        errors["display_name"] = ["Use at most 200 characters."]
    if password and "password" not in errors:
        problems = check_new_password(st, password, username)
        if problems:
            errors["password"] = problems
    if password and confirm and password != confirm:
        errors["confirm"] = ["The two passwords differ."]
    return errors


def summary(errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``(field id, label)`` of every field with a problem, for the summary at the top of the form (the
    messages themselves stand next to their fields)."""
    return [(name, LABELS.get(name, name)) for name in errors]
