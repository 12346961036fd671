"""Typed values that cross the plugin boundary.

Everything a hook receives or returns is defined here, so plugin authors have one place to read.
These are plain dataclasses and abstract base classes; none of them is bound to the database.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO


class PluginConfigError(ValueError):
    """Raised by a plugin's ``parse_config`` for a bad value in its ``[plugins.NAME]`` table.

    :param key: the offending key inside the plugin's table.
    :param message: what is wrong and what is accepted.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class RequestInfo:
    """What a plugin may know about the HTTP request that triggered a hook.

    ``remote_addr`` is the client address after ``server.trusted_proxies`` was applied.
    """

    remote_addr: str = "127.0.0.1"
    user_agent: str = ""
    scheme: str = "http"
    path: str = "/"


@dataclass(frozen=True)
class UserInfo:
    """A user as plugins see it (read-only snapshot, never an ORM object)."""

    id: int
    username: str
    email: str
    display_name: str
    role: str
    provider: str
    verified: bool
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class Identity:
    """Who an auth provider says the caller is.

    Local providers set ``user_id`` to an existing account. External providers (LDAP, AD) leave it
    ``None`` and give a stable ``external_id`` (entryUUID/objectGUID); core links or creates the
    local profile just in time, keyed by ``(provider, external_id)``.
    """

    provider: str
    username: str
    user_id: int | None = None
    external_id: str | None = None
    email: str = ""
    display_name: str = ""
    email_verified: bool = False
    role: str | None = None  # None: keep the account's role (or "user" for a new account)
    groups: tuple[str, ...] = ()


class AuthStatus(enum.Enum):
    """Outcome of one provider in the auth chain."""

    OK = "ok"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AuthResult:
    """Result of ``auth_authenticate``. Returning ``None`` instead defers to the next provider.

    ``reason`` is for the admin log only; users always see one generic message.
    """

    status: AuthStatus
    identity: Identity | None = None
    reason: str = ""

    @classmethod
    def ok(cls, identity: Identity) -> AuthResult:
        """The credentials are valid: stop the chain and log this identity in."""
        return cls(AuthStatus.OK, identity)

    @classmethod
    def denied(cls, reason: str) -> AuthResult:
        """The account is this provider's and the credentials are wrong (or refused): stop the chain."""
        return cls(AuthStatus.DENIED, None, reason)

    @classmethod
    def unavailable(cls, reason: str) -> AuthResult:
        """The backend could not be asked (e.g. directory down): the chain goes on with the next provider."""
        return cls(AuthStatus.UNAVAILABLE, None, reason)


@dataclass(frozen=True)
class AuthProviderInfo:
    """Describes one provider of an auth plugin.

    ``external`` providers own their passwords elsewhere: their users never get a local password,
    a password change or a reset email. ``registration`` means the provider can create accounts with a
    password set through ``auth_set_password``.
    """

    name: str
    label: str
    external: bool
    registration: bool = False


class CaptchaProvider(abc.ABC):
    """A captcha implementation (single choice: ``[captcha] provider``)."""

    name: str = ""

    @abc.abstractmethod
    def render(self, purpose: str) -> str:
        """Return the HTML fragment to place inside a form for ``purpose`` (e.g. ``"register"``).

        The fragment must never contain the answer.
        """

    @abc.abstractmethod
    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        """Check the submitted form fields; single use, bound to ``purpose``; fail closed."""

    def api_challenge(self, purpose: str) -> dict[str, Any]:
        """Return a JSON-able challenge for API clients (optional)."""
        return {}


@dataclass(frozen=True)
class CaptchaVerdict:
    """Outcome of a captcha check. ``reason`` goes to the log, ``message`` to the user."""

    ok: bool
    reason: str = ""
    message: str = "The captcha answer was not accepted. Please try again."


class StorageError(Exception):
    """A blob store failed (misconfiguration, refused request). The web layer answers 503."""


class StorageUnavailable(StorageError):
    """The blob store cannot be reached right now (connection refused, timeout, 5xx). Answered with 503."""


class BlobNotFound(LookupError):
    """The requested digest is not stored."""


class BlobStore(abc.ABC):
    """Stores bytes by their SHA-256 hex digest and nothing else (single choice: ``[storage] backend``).

    Core hashes, counts references and decides when to delete; a backend only moves bytes. Digests are
    64 lower-case hex characters, already verified by core: a backend never hashes to decide a name.

    Rules every backend follows (checked by :class:`core.contracts.storage.StorageBackendContract`):

    * ``put``/``put_file`` are idempotent and atomic: readers see all of the object or nothing, and a
      second put of an existing digest changes nothing and returns ``False``.
    * ``open`` streams (bounded memory) and supports byte ranges; a missing digest raises
      :class:`BlobNotFound` *when ``open`` is called* (not on first iteration), so callers can answer 404
      before sending headers.
    * Failures to reach the store raise :class:`StorageUnavailable`; other failures :class:`StorageError`.
    """

    name: str = ""

    @abc.abstractmethod
    def put(self, digest: str, stream: BinaryIO, size: int) -> bool:
        """Store ``size`` bytes read from ``stream`` under ``digest``; idempotent.

        :return: ``True`` if written, ``False`` if the digest was already stored (a dedup hit).
        """

    def put_file(self, digest: str, path: Path, size: int) -> bool:
        """Store the complete file at ``path`` (a temp file core wrote and hashed) under ``digest``.

        Core keeps ``path`` and deletes it afterwards; a backend may hard-link it into place but must not
        move it away. The default opens the file and calls :meth:`put`.

        :return: ``True`` if written, ``False`` if the digest was already stored.
        """
        with open(path, "rb") as stream:
            return self.put(digest, stream, size)

    def temp_dir(self) -> Path | None:
        """Where core should write upload temp files (same filesystem as the store lets ``put_file``
        link instead of copying), or ``None`` for core's own temp directory."""
        return None

    @abc.abstractmethod
    def open(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``digest`` from offset ``start`` to ``end`` (inclusive; ``None`` = last byte).

        :raises BlobNotFound: when the digest is not stored (raised by the call itself).
        """

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove ``digest``; deleting a missing digest is not an error."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Tell whether ``digest`` is stored."""

    def size(self, digest: str) -> int | None:
        """The stored size of ``digest`` in bytes, or ``None`` when it is not stored.

        The default reads the object; backends should override it with a metadata lookup.
        """
        if not self.exists(digest):
            return None
        return sum(len(chunk) for chunk in self.open(digest))

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Yield every stored digest (for fsck and migration); temp files are never yielded."""

    def check(self) -> None:  # noqa: B027 - optional hook with a safe default
        """Raise if the backend cannot be reached (used by ``/healthz``)."""


@dataclass(frozen=True)
class PostInfo:
    """A community post or KB comment submitted for moderation."""

    kind: str  # "thread" | "reply"
    title: str
    body_html: str
    author_reply_count: int = 0


class VerdictAction(enum.IntEnum):
    """Moderation actions, ordered so that the strongest wins: reject > hold > allow."""

    ALLOW = 0
    HOLD = 1
    REJECT = 2


@dataclass(frozen=True)
class Verdict:
    """A moderation plugin's vote with the reason moderators will see."""

    action: VerdictAction
    reason: str = ""

    @classmethod
    def allow(cls, reason: str = "") -> Verdict:
        """Publish the post."""
        return cls(VerdictAction.ALLOW, reason)

    @classmethod
    def hold(cls, reason: str) -> Verdict:
        """Keep the post for a moderator's approval."""
        return cls(VerdictAction.HOLD, reason)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        """Refuse the post."""
        return cls(VerdictAction.REJECT, reason)


@dataclass
class ModerationDecision:
    """Core's combination of every plugin's vote (the strongest action, with all reasons)."""

    action: VerdictAction
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (plugin name, reason)


@dataclass
class SweepReport:
    """What one retention plugin did (or would do, on a dry run), per department name."""

    plugin: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # dept -> {"closed": n, ...}
    dry_run: bool = False


@dataclass(frozen=True)
class SettingSpec:
    """A runtime setting shown in the admin UI and editable by API and CLI.

    ``type`` is one of ``"bool"``, ``"int"``, ``"str"``, ``"list"``, ``"choice"``. ``validate`` may
    normalise the value or raise ``ValueError`` with a message for the admin.
    """

    key: str
    type: str
    default: Any
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False
    tab: str = "General"
    validate: Any = None  # Callable[[Any], Any] | None
    warn: Any = None  # Callable[[Any], list[str]] | None: accepted values the admin should think twice about


@dataclass(frozen=True)
class DiagnosticStep:
    """One step of a plugin's connection test (``plugin_diagnose``)."""

    name: str
    ok: bool
    detail: str = ""
