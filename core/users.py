"""Accounts: username/email normalisation and validation, the user directory plugins use."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from core.db import Database
from core.models import ROLES, Credential, User, utcnow
from core.types import Identity, UserInfo

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

    def create(self, *, username: str, email: str, role: str = "user", display_name: str = "",
               provider: str = "local", external_id: str | None = None, verified: bool = False) -> UserInfo:
        """Create an account; raise :class:`AccountError` for a taken or invalid username/email."""
        shown = validate_username(username)
        email_shown, email_key = normalize_email(email) if email or provider == "local" else ("", "")
        if role not in ROLES:
            raise AccountError("role", f"Role must be one of {', '.join(ROLES)}.")
        if len(display_name) > 200:
            raise AccountError("display_name", "Use at most 200 characters.")
        with self.db.session() as session:
            key = normalize_username(shown)
            if session.scalar(select(func.count()).select_from(User).where(User.username_key == key)):
                raise AccountError("username", "This username is taken. Choose another one.")
            user = User(username=shown, username_key=key, email=email_shown, email_key=email_key,
                        display_name=display_name.strip() or shown, role=role, provider=provider,
                        external_id=external_id, email_verified=verified, created_at=utcnow())
            session.add(user)
            session.flush()
            return to_info(user)

    def link_external(self, identity: Identity) -> UserInfo:
        """Just-in-time provisioning: find the account linked to ``(provider, external_id)`` or create it,
        refreshing email, display name and (when the provider maps one) role."""
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.provider == identity.provider,
                                                     User.external_id == identity.external_id))
            if user is None:
                return self.create(username=identity.username, email=identity.email,
                                   role=identity.role or "user", display_name=identity.display_name,
                                   provider=identity.provider, external_id=identity.external_id,
                                   verified=identity.email_verified and bool(identity.email))
            if identity.email and identity.email != user.email:
                user.email, user.email_key = normalize_email(identity.email)
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
    """Opaque per-user, per-provider credential material (e.g. ``auth_local``'s argon2 hash)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: int, provider: str) -> str | None:
        """The stored secret, or ``None``."""
        with self.db.engine.connect() as conn:
            return conn.execute(select(Credential.secret).where(Credential.user_id == user_id,
                                                                Credential.provider == provider)).scalar()

    def set(self, user_id: int, provider: str, secret: str) -> None:
        """Store (or replace) the secret."""
        with self.db.session() as session:
            row = session.get(Credential, (user_id, provider))
            if row is None:
                session.add(Credential(user_id=user_id, provider=provider, secret=secret, updated_at=utcnow()))
            else:
                row.secret, row.updated_at = secret, utcnow()
