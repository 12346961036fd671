"""Flask-WTF forms (CSRF on every one). Business rules live in core.auth, shared with the API."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm as _FlaskForm
from markupsafe import Markup
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import InputRequired, Length


class FlaskForm(_FlaskForm):
    """Flask-WTF's form whose hidden CSRF field renders without an ``id``: a page with several forms
    (logout, reply, change, delete) would otherwise repeat ``id="csrf_token"``."""

    class Meta(_FlaskForm.Meta):
        def render_field(self, field: Field, render_kw: dict[str, Any]) -> Any:
            if field.type == "CSRFTokenField":
                if not render_kw and not field.render_kw:  # what the widget would write, without its machinery
                    return csrf_input(field.name, field._value())
                render_kw = {**render_kw, "id": False}
            return super().render_field(field, render_kw)


def csrf_input(name: str, token: str) -> Markup:
    """The hidden CSRF field exactly as WTForms' ``HiddenInput`` renders it without an ``id`` (attributes
    sorted, values escaped), built directly: every page with a form renders one, most pages two (issue 22)."""
    return Markup('<input name="{}" type="hidden" value="{}">').format(name, token)


class LoginForm(FlaskForm):
    """Username (or email) and password."""

    username = StringField("Username or email", validators=[InputRequired("Enter your username."),
                                                            Length(max=320)])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])


class RegisterForm(FlaskForm):
    """Self-registration of a local account."""

    username = StringField("Username", validators=[InputRequired("Choose a username.")])
    email = EmailField("Email address", validators=[InputRequired("Enter your email address.")])
    display_name = StringField("Display name (optional)", validators=[Length(max=200)])
    password = PasswordField("Password", validators=[InputRequired("Choose a password.")])
    confirm = PasswordField("Repeat the password", validators=[InputRequired("Repeat the password.")])


class ChangePasswordForm(FlaskForm):
    """Change the password of the logged-in user."""

    current_password = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=[InputRequired("Choose a new password.")])
    confirm = PasswordField("Repeat the new password", validators=[InputRequired("Repeat the new password.")])


class PostForm(FlaskForm):
    """A form with no fields: a button that POSTs with a CSRF token (logout, disable, ...)."""


class ResetRequestForm(FlaskForm):
    """Ask for a password reset link."""

    login = StringField("Username or email", validators=[InputRequired("Enter your username or email."),
                                                         Length(max=320)])


class ResetForm(FlaskForm):
    """Choose a new password from a reset link."""

    password = PasswordField("New password", validators=[InputRequired("Choose a new password.")])
    confirm = PasswordField("Repeat the new password", validators=[InputRequired("Repeat the new password.")])


class ChangeEmailForm(FlaskForm):
    """Change the email address (takes effect when the new address is confirmed)."""

    new_email = EmailField("New email address", validators=[InputRequired("Enter the new address."),
                                                            Length(max=320)])
    password = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])
