"""Flask-WTF forms (CSRF on every one). Business rules live in core.auth, shared with the API."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from flask import current_app, g, session
from flask_wtf import FlaskForm as _FlaskForm
from flask_wtf.csrf import _FlaskFormCSRF
from markupsafe import Markup, escape
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from core.auth.sessions import PlainSigner


class _TokenOnce(_FlaskFormCSRF):  # type: ignore[misc]
    """Flask-WTF's form CSRF with the token from :func:`csrf_token` (the same token, signed without zlib)."""

    def generate_csrf_token(self, csrf_token_field: Field) -> str:
        return csrf_token()


class FlaskForm(_FlaskForm):
    """Flask-WTF's form whose hidden CSRF field renders without an ``id``: a page with several forms
    (logout, reply, change, delete) would otherwise repeat ``id="csrf_token"``."""

    class Meta(_FlaskForm.Meta):
        csrf_class = _TokenOnce

        def render_field(self, field: Field, render_kw: dict[str, Any]) -> Any:
            if field.type == "CSRFTokenField":
                if not render_kw and not field.render_kw:  # what the widget would write, without its machinery
                    return csrf_input(field.name, field._value())
                render_kw = {**render_kw, "id": False}
            return super().render_field(field, render_kw)


_token_signers: dict[Any, PlainSigner] = {}
#: A session's signed token is reused for this many seconds (its timestamp is at most this old, against the
#: hour Flask-WTF accepts): every page of a logged-in user renders one for the logout button.
RESIGN_AFTER = 60.0
_signed: dict[tuple[Any, str], tuple[str, float]] = {}


def csrf_token() -> str:
    """This request's signed CSRF token: what ``flask_wtf.csrf.generate_csrf()`` returns (same session key,
    same ``g`` cache, same salt, so either validates the other's), signed without the zlib attempt that
    Flask-WTF's serializer makes for every token (see :class:`core.auth.sessions.PlainSigner`)."""
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    token = g.get(field)
    if token is None:
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        signer = _token_signers.get(secret)
        if signer is None:
            signer = _token_signers[secret] = PlainSigner(secret or "", salt="wtf-csrf-token")
        if not isinstance(session.get(field), str):
            session[field] = hashlib.sha1(os.urandom(64)).hexdigest()  # as Flask-WTF makes its raw token
        raw, now = session[field], time.monotonic()
        known = _signed.get((secret, raw))
        if known is not None and now - known[1] < RESIGN_AFTER:
            token = known[0]
        else:
            token = signer.dumps(raw)
            if len(_signed) >= 4096:
                _signed.clear()
            _signed[(secret, raw)] = (token, now)
        setattr(g, field, token)
    return str(token)


def csrf_field() -> Markup:
    """This request's hidden CSRF field, as ``FlaskForm().csrf_token`` renders it (without building a form)."""
    return csrf_input(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), csrf_token())


def csrf_input(name: str, token: str) -> Markup:
    """The hidden CSRF field exactly as WTForms' ``HiddenInput`` renders it without an ``id`` (attributes
    sorted, values escaped), built directly: every page with a form renders one, most pages two (issue 22).
    Escaped with ``escape`` rather than ``Markup.format``, whose formatter is pure Python (~3 % of a page)."""
    return Markup(f'<input name="{escape(name)}" type="hidden" value="{escape(token)}">')


class BlankForm:
    """A form as a first GET renders it: the fields of one shared, empty instance (rendering only reads them)
    and this request's CSRF field; no WTForms form is built per view (about a fifth of the login page).
    Submitted forms are always real :class:`FlaskForm` instances: they validate."""

    def __init__(self, fields: dict[str, Field]) -> None:
        self.__dict__.update(fields)

    @property
    def csrf_token(self) -> Markup:
        """The hidden CSRF field, as ``FlaskForm().csrf_token`` renders it."""
        return csrf_field()


_blank_fields: dict[type[_FlaskForm], dict[str, Field]] = {}


def blank_form(form_class: type[_FlaskForm]) -> BlankForm:
    """An empty ``form_class`` for a GET (see :class:`BlankForm`); call it inside a request."""
    fields = _blank_fields.get(form_class)
    if fields is None:
        empty = form_class(formdata=None, meta={"csrf": False})
        fields = _blank_fields[form_class] = {field.name: field for field in empty}
    return BlankForm(fields)


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
