"""Accounts: username/email normalisation and validation, the user directory plugins use."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database
from core.models import ROLES, Credential, User, utcnow
from core.types import Identity, UserInfo

log = logging.getLogger("plugdesk.users")
USERNAME_MAX = 150
_USERNAME_OK = re.compile(r"^[\w.@+-]+$")
_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]{2,}$")


class AccountError(ValueError):
    """An account could not be created or changed; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def messages(self) -> list[str]:
        """Every problem, as a list (one sentence per failed requirement)."""
        return [self.message]


def normalize_username(raw: str) -> str:
    """NFKC + case-fold + strip: ``Admin``, ``ＡＤＭＩＮ`` and `` admin `` are one account."""
    return unicodedata.normalize("NFKC", raw).casefold().strip()


def validate_username(raw: str) -> str:
    """Return the username as it will be displayed, or raise :class:`AccountError`."""
    name = unicodedata.normalize("NFKC", raw or "").strip()
    if not name:
        raise AccountError("username", "Enter a username.")
    if len(name) > USERNAME_MAX:
        raise AccountError("username", f"Use at most {USERNAME_MAX} characters.")
    if not _USERNAME_OK.match(name):
        raise AccountError("username", "Use letters, digits and . _ - @ + only.")
    return name


def normalize_email(raw: str) -> tuple[str, str]:
    """Validate an address; return ``(as_given, lookup_key)``. Unicode domains are IDNA-encoded for the key."""
    email = unicodedata.normalize("NFC", (raw or "").strip())
    if not email or len(email) > 320 or not _EMAIL.match(email):
        raise AccountError("email", "Enter a valid email address, like name@example.com.")
    local, domain = email.rsplit("@", 1)
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise AccountError("email", "The domain of this email address is not valid.") from None
    return email, f"{local}@{ascii_domain}".casefold()


def to_info(user: User) -> UserInfo:
    """The read-only snapshot of a user that plugins receive."""
    return UserInfo(id=user.id, username=user.username, email=user.email, display_name=user.display_name,
                    role=user.role, provider=user.provider, verified=user.email_verified,
                    is_active=user.is_active, created_at=user.created_at)


def address_taken(session: Session, key: str, exclude_id: int | None = None) -> bool:
    """Whether another account (not ``exclude_id``) uses ``key`` as its email address or as its username.

    Email addresses are unique (case-insensitively, ``email_key``), and no username may be another account's
    address: a login by email must always name the account that owns that address.
    """
    stmt = select(func.count()).select_from(User).where((User.email_key == key) | (User.username_key == key))
    if exclude_id is not None:
        stmt = stmt.where(User.id != exclude_id)
    return bool(session.scalar(stmt))


class UserDirectory:
    """Look up and create accounts (the part of the user table plugins may use)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Lookups run on every login, so they use plain Core statements (no ORM unit of work).
    _COLUMNS = (User.id, User.username, User.email, User.display_name, User.role, User.provider,
                User.email_verified, User.is_active, User.created_at)

    @staticmethod
    def _info(row: Any) -> UserInfo:
        return UserInfo(id=row[0], username=row[1], email=row[2], display_name=row[3], role=row[4],
                        provider=row[5], verified=row[6], is_active=row[7], created_at=row[8])

    def find(self, username: str) -> UserInfo | None:
        """Find by username (any case/Unicode form) or, failing that, by a unique email address."""
        key = normalize_username(username)
        with self.db.engine.connect() as conn:
            row = conn.execute(select(*self._COLUMNS).where(User.username_key == key)).first()
            if row is None and "@" in key:
                rows = conn.execute(select(*self._COLUMNS).where(User.email_key == key).limit(2)).all()
                row = rows[0] if len(rows) == 1 else None
            return self._info(row) if row else None

    def get(self, user_id: int) -> UserInfo | None:
        """Find by id."""
        with self.db.engine.connect() as conn:
            row = conn.execute(select(*self._COLUMNS).where(User.id == user_id)).first()
            return self._info(row) if row else None

    def create(self, *, username: str, email: str, provider: str, role: str = "user", display_name: str = "",
               external_id: str | None = None, verified: bool = False, require_email: bool = True) -> UserInfo:
        """Create an account owned by the auth provider ``provider``.

        Inside a core transaction (:func:`core.db.joining`, e.g. a registration) the account is written in it.

        :param require_email: refuse an empty ``email`` (external providers may have accounts without one).
        :raises AccountError: for a taken or invalid username, an invalid email or an unknown role.
        """
        shown = validate_username(username)
        email_shown, email_key = normalize_email(email) if email or require_email else ("", "")
        if role not in ROLES:
            raise AccountError("role", f"Role must be one of {', '.join(ROLES)}.")
        if len(display_name) > 200:
            raise AccountError("display_name", "Use at most 200 characters.")
        with self.db.joined() as session:
            key = normalize_username(shown)
            if session.scalar(select(func.count()).select_from(User).where(User.username_key == key)):
                raise AccountError("username", "This username is taken. Choose another one.")
            if "@" in key and address_taken(session, key):  # someone's email: their email login would point here
                raise AccountError("username", "This username cannot be used. Choose another one.")
            if email_key and address_taken(session, email_key):
                raise AccountError("email", "This address cannot be used. Choose another one.")
            user = User(username=shown, username_key=key, email=email_shown, email_key=email_key,
                        display_name=display_name.strip() or shown, role=role, provider=provider,
                        external_id=external_id, email_verified=verified, created_at=utcnow())
            session.add(user)
            try:
                session.flush()
            except IntegrityError:  # a concurrent registration took the name or the address first
                raise AccountError("username", "This username or address is taken. Choose another one.") from None
            return to_info(user)

    def link_external(self, identity: Identity) -> UserInfo:
        """Just-in-time provisioning: find the account linked to ``(provider, external_id)`` or create it,
        refreshing email, display name and (when the provider maps one) role."""
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.provider == identity.provider,
                                                     User.external_id == identity.external_id))
            email = identity.email
            if email and address_taken(session, normalize_email(email)[1], user.id if user else None):
                log.warning("%s account %r: the address from the directory belongs to another account here; "
                            "it is not copied", identity.provider, identity.username)
                email = user.email if user else ""
            if user is None:
                return self.create(username=identity.username, email=email,
                                   role=identity.role or "user", display_name=identity.display_name,
                                   provider=identity.provider, external_id=identity.external_id,
                                   verified=identity.email_verified and bool(email), require_email=False)
            if email and email != user.email:
                user.email, user.email_key = normalize_email(email)
                user.email_verified = identity.email_verified
            if identity.display_name:
                user.display_name = identity.display_name
            if identity.role:
                user.role = identity.role
            return to_info(user)

    def touch_login(self, user_id: int, when: datetime | None = None) -> None:
        """Record a successful login."""
        with self.db.engine.begin() as conn:
            conn.execute(update(User).where(User.id == user_id).values(last_login_at=when or utcnow()))


class CredentialStore:
    """Opaque per-user, per-provider credential material (e.g. a password plugin's argon2 hash)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: int, provider: str) -> str | None:
        """The stored secret, or ``None``."""
        with self.db.engine.connect() as conn:
            return conn.execute(select(Credential.secret).where(Credential.user_id == user_id,
                                                                Credential.provider == provider)).scalar()

    def set(self, user_id: int, provider: str, secret: str) -> None:
        """Store (or replace) the secret (in the surrounding core transaction when there is one)."""
        with self.db.joined() as session:
            row = session.get(Credential, (user_id, provider))
            if row is None:
                session.add(Credential(user_id=user_id, provider=provider, secret=secret, updated_at=utcnow()))
            else:
                row.secret, row.updated_at = secret, utcnow()
