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

    Attributes:
        remote_addr: the client's IP address (v4 or v6) after ``server.trusted_proxies`` was applied, so
            behind a reverse proxy it is the real client, never the proxy.
        user_agent: the ``User-Agent`` header as sent (may be empty; never trust it).
        scheme: ``"http"`` or ``"https"`` as the client used it (after the proxy headers).
        path: the request path, e.g. ``"/login"`` or ``"/api/v1/auth/login"``.
    """

    remote_addr: str = "127.0.0.1"
    user_agent: str = ""
    scheme: str = "http"
    path: str = "/"


@dataclass(frozen=True)
class UserInfo:
    """A user as plugins see it (read-only snapshot, never an ORM object).

    Attributes:
        id: the account's database id (stable; use it to refer to the account).
        username: the display form of the login name, as registered or as the provider gave it
            (look accounts up with ``ctx.users.find``, which case-folds).
        email: the account's address (may be empty for an external account without one).
        display_name: the name shown in the interface (the username when none was given).
        role: ``"user"``, ``"agent"``, ``"manager"`` or ``"admin"`` (a :class:`Role` value).
        provider: the name of the auth provider that owns the account (``AuthProviderInfo.name``), e.g.
            ``"local"``.
        verified: whether the email address was confirmed (or vouched for by an external provider).
        is_active: ``False`` for a disabled account: it cannot log in.
        created_at: when the account was created (aware datetime, UTC).
    """

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

    Attributes:
        provider: the name of the provider that vouches for the person (one of the plugin's
            ``AuthProviderInfo.name``).
        username: the login name to use for a new local profile (ignored when ``user_id`` is set).
        user_id: the existing local account this is (local providers); ``None`` for external providers.
        external_id: a stable, unique id in the provider's own system (never the username, which can
            change); required when ``user_id`` is ``None``.
        email: the person's address; on each login it replaces the profile's address when different.
        display_name: the person's name; on each login it replaces the profile's when not empty.
        email_verified: whether the provider vouches for ``email`` (the profile counts as verified).
        role: a role to set on each login (e.g. mapped from directory groups); ``None`` keeps the
            account's role, or gives ``"user"`` to a new account.
        groups: the groups the provider reported, for information and logging; core does not use them.
        mfa: the provider vouches that the person passed a second factor *with it* in this login (e.g. an
            OpenID Connect ``amr`` claim with ``mfa``/``otp``/``hwk``, and the admin chose to trust that).
            Only redirect logins (``auth_redirect_complete``) use it: core then skips its own second step
            and counts the session as two-factor (the "required for roles" policy is met). ``False``: an
            account with a second factor at plugdesk is asked for it after the provider. Since contract 1.3.
    """

    provider: str
    username: str
    user_id: int | None = None
    external_id: str | None = None
    email: str = ""
    display_name: str = ""
    email_verified: bool = False
    role: str | None = None
    groups: tuple[str, ...] = ()
    mfa: bool = False


class AuthStatus(enum.Enum):
    """Outcome of one provider in the auth chain (returning ``None`` instead means "not mine, ask the next").

    Attributes:
        OK: the credentials are valid; the chain stops and the identity is logged in.
        DENIED: the account is this provider's and the credentials are wrong or refused; the chain stops,
            the person sees the generic failure message and the attempt counts toward the lockout.
        UNAVAILABLE: the provider could not ask its backend; the chain goes on with the next provider. This
            answer never counts toward the lockout; if no later provider decides, the person reads that the
            provider (named by its ``label``) cannot be reached.
    """

    OK = "ok"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AuthResult:
    """Result of ``auth_authenticate``. Returning ``None`` instead defers to the next provider.

    Build it with the class methods :meth:`ok`, :meth:`denied` and :meth:`unavailable`.

    Attributes:
        status: what the provider decided (:class:`AuthStatus`).
        identity: who logged in; set exactly when ``status`` is ``OK``.
        reason: why, for the admin log only (users see one generic message, or the provider's label when
            it is unreachable). Never put the password in it.
        message: what the person reads on the error page of a *redirect* login (``auth_redirect_complete``),
            e.g. "You cancelled signing in with Acme ID."; empty for core's wording. The password chain never
            shows it (its failure message stays generic). Since contract 1.2.
    """

    status: AuthStatus
    identity: Identity | None = None
    reason: str = ""
    message: str = ""

    @classmethod
    def ok(cls, identity: Identity) -> AuthResult:
        """The credentials are valid: stop the chain and log this identity in."""
        return cls(AuthStatus.OK, identity)

    @classmethod
    def denied(cls, reason: str, message: str = "") -> AuthResult:
        """The account is this provider's and the credentials are wrong (or refused): stop the chain.

        ``message`` is shown to the person only after a redirect login (see the ``message`` attribute)."""
        return cls(AuthStatus.DENIED, None, reason, message)

    @classmethod
    def unavailable(cls, reason: str, message: str = "") -> AuthResult:
        """The backend could not be asked (e.g. directory down): the chain goes on with the next provider."""
        return cls(AuthStatus.UNAVAILABLE, None, reason, message)


@dataclass(frozen=True)
class AuthProviderInfo:
    """Describes one provider of an auth plugin.

    Attributes:
        name: the provider's unique name; stored with each account it owns (``UserInfo.provider``).
        label: what people read: the login page, and every message about accounts of this provider
            ("Acme Control Panel cannot be reached right now", "Your password is managed by ...").
        external: the provider owns its passwords elsewhere (LDAP, a control panel): its users never get
            a local password, a password change form or a reset email, whatever the settings say.
        registration: the provider can create accounts with a password set through ``auth_set_password``
            (the portal's registration uses the first such provider in the chain).
    """

    name: str
    label: str
    external: bool
    registration: bool = False


class CaptchaProvider(abc.ABC):
    """A captcha implementation (single choice: ``[captcha] provider``).

    Attributes:
        name: the name admins choose it by (``[captcha] provider`` and the Settings > Security captcha
            type); the key your ``captcha_providers`` returns it under.
    """

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
    """Outcome of a captcha check.

    Attributes:
        ok: the answer is right, fresh, for this purpose and not used before.
        reason: why not, for the log (e.g. ``"expired"``, ``"reused"``); never the answer itself.
        message: what the person reads next to the form when ``ok`` is ``False``.
    """

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

    Attributes:
        name: the name admins choose it by (``[storage] backend``); the key your ``storage_backends``
            returns it under.
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
    """A community post submitted for moderation (a new thread, a reply, or an edit of either).

    Attributes:
        kind: ``"thread"`` (starts a thread, has a title) or ``"reply"`` (title empty).
        title: the thread's title as plain text, whitespace collapsed, at most 300 characters (``""`` for a
            reply). Not HTML: escape it if you put it in a page.
        body_html: the post's HTML **after** core's sanitizer (nh3 with the KB allow-list: no scripts,
            event handlers or ``style`` attributes; URLs only ``http``, ``https``, ``mailto`` or relative;
            links carry ``rel="noopener noreferrer nofollow"``), exactly what readers will be shown. Safe to
            display; still markup, so match words on the text (strip the tags) or on ``href`` values as your
            rule needs. At most 100,000 characters.
        author_reply_count: how many published replies the author has written so far (a measure of trust).
    """

    kind: str
    title: str
    body_html: str
    author_reply_count: int = 0


class VerdictAction(enum.IntEnum):
    """Moderation actions, ordered so that the strongest wins: reject > hold > allow.

    Attributes:
        ALLOW: publish the post at once (as if no plugin had voted).
        HOLD: keep the post pending until a moderator approves or rejects it.
        REJECT: refuse the post; it is kept as rejected for moderators and never shown to readers.
    """

    ALLOW = 0
    HOLD = 1
    REJECT = 2


@dataclass(frozen=True)
class Verdict:
    """A moderation plugin's vote with the reason moderators will see.

    Build it with :meth:`allow`, :meth:`hold` or :meth:`reject`; return ``None`` to abstain.

    Attributes:
        action: what the plugin votes for (:class:`VerdictAction`).
        reason: one line for moderators (shown in the moderation queue with the plugin's name), e.g.
            ``"5 links (limit 3)"``; required for hold and reject.
    """

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
    """Core's combination of every plugin's vote (the strongest action, with all reasons). Mutable.

    Attributes:
        action: the strongest action voted (``ALLOW`` when no plugin voted).
        reasons: ``(plugin name, reason)`` of every vote that gave one, in the order the plugins were called.
    """

    action: VerdictAction
    reasons: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SweepReport:
    """What one retention plugin did (or would do, on a dry run), per department name. Mutable.

    Attributes:
        plugin: the reporting plugin's name (as in ``[plugins] enabled``).
        counts: per department name, the number of tickets per action, e.g.
            ``{"Support": {"closed": 3, "locked": 0, "deleted": 1}}``; shown by ``plugdesk retention run``.
        dry_run: ``True`` when nothing was changed and the counts are what a real run would do.
    """

    plugin: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class DepartmentInfo:
    """A department and its retention switches as plugins see it (``ctx.departments``).

    Each day count is ``None`` (the rule is off) or 1..36,500.

    :param id: the department's id.
    :param name: its unique name (retention reports are keyed by it).
    :param auto_close_days: close a ticket waiting for the customer (an agent spoke last) this many days
        after the agent's last reply.
    :param lock_after_days: lock a closed ticket this many days after it was closed (no more replies).
    :param delete_after_days: delete a closed ticket this many days after it was closed.
    :param public: whether customers can pick the department on the portal.
    """

    id: int
    name: str
    auto_close_days: int | None = None
    lock_after_days: int | None = None
    delete_after_days: int | None = None
    public: bool = True

    @property
    def has_retention(self) -> bool:
        """Whether at least one retention rule is on."""
        return any(d is not None for d in (self.auto_close_days, self.lock_after_days, self.delete_after_days))


@dataclass(frozen=True)
class TicketInfo:
    """A ticket as plugins see it (never an ORM object). ``customer_email`` is the guest's or the account's.

    Timestamps are aware datetimes in UTC.

    Attributes:
        id: the ticket number.
        subject: the subject line as plain text.
        department_id: the id of the ticket's department.
        department_name: that department's name.
        status: ``"open"`` (the customer spoke last), ``"waiting"`` (an agent spoke last) or ``"closed"``
            (a :class:`TicketStatus` value).
        locked: a locked ticket takes no more replies (retention locks closed tickets after a while).
        customer_id: the customer's account id; ``None`` for a guest's ticket.
        customer_email: where replies to the customer go: the guest's address or the account's.
        assignee_id: the agent it is assigned to, or ``None``.
        created_at: when it was submitted.
        closed_at: when it was last closed; ``None`` while not closed.
        locked_at: when it was locked; ``None`` while not locked.
    """

    id: int
    subject: str
    department_id: int
    department_name: str
    status: str
    locked: bool
    customer_id: int | None
    customer_email: str
    assignee_id: int | None
    created_at: datetime
    closed_at: datetime | None
    locked_at: datetime | None


@dataclass(frozen=True)
class TicketMessageInfo:
    """One message as plugins see it. ``internal`` notes must never reach customers.

    Attributes:
        id: the message's id.
        ticket_id: the ticket it belongs to (:attr:`TicketInfo.id`).
        author_id: the writer's account id; ``None`` for a guest (or when the account was deleted).
        author_name: the writer's display name at the time of writing.
        from_agent: ``True`` when staff wrote it, ``False`` for the customer.
        internal: an internal note between agents: never send it, quote it or show it to the customer.
        body: the text as written, plain text (not HTML).
        created_at: when it was written (aware datetime, UTC).
    """

    id: int
    ticket_id: int
    author_id: int | None
    author_name: str
    from_agent: bool
    internal: bool
    body: str
    created_at: datetime


@dataclass(frozen=True)
class SettingSpec:
    """A runtime setting shown in the admin UI and editable by API and CLI.

    Values are exact JSON types (``"10"`` is not a number; web forms are converted first).

    Attributes:
        key: the dotted key, ``plugins.NAME.something`` for a plugin's setting (anything else stops startup).
        type: ``"bool"``, ``"int"``, ``"str"``, ``"list"`` (of strings) or ``"choice"`` (one of ``choices``).
        default: the value until an admin changes it (must itself be valid).
        label: the field's label in the admin UI, and the prefix of its error messages.
        help: one or two sentences under the field.
        choices: the allowed values of a ``"choice"`` setting.
        minimum: the smallest allowed ``"int"`` (``None``: no lower bound).
        maximum: the largest allowed ``"int"`` (``None``: no upper bound).
        secret: marks a value that should not be displayed. Not honoured by the admin UI yet: keep secrets in
            the plugin's configuration table (``{ "$env" = "NAME" }``), not in runtime settings.
        tab: the Settings page tab it appears on (a new name adds a tab).
        validate: ``Callable[[Any], Any] | None``: called with the type-checked value; returns it normalised
            or raises ``ValueError`` with a message for the admin.
        warn: ``Callable[[Any], list[str]] | None``: for accepted values the admin should think twice about;
            the returned lines are shown after saving.
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
    validate: Any = None
    warn: Any = None


@dataclass(frozen=True)
class DiagnosticStep:
    """One step of a plugin's connection test (``plugin_diagnose``).

    Attributes:
        name: what was tried, e.g. ``"corp: connect ldaps://dc1:636"``.
        ok: whether the step succeeded (the admin sees a tick or a cross).
        detail: what happened, for an admin: the server's answer, the certificate problem, the fix.
            Never a password or other secret.
    """

    name: str
    ok: bool
    detail: str = ""


class Role(enum.StrEnum):
    """An account's role, weakest first; each role may do everything the roles before it may.

    Members are strings (``Role.AGENT == "agent"``), so stored values and plugin code comparing with
    ``"agent"`` keep working.

    Attributes:
        USER: a customer: the portal, their own tickets, the KB and the community.
        AGENT: staff who work the tickets of their departments and moderate the community.
        MANAGER: an agent who also sees every department's tickets, deletes tickets and manages departments.
        ADMIN: everything, including settings, users and plugins.
    """

    USER = "user"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for ``user`` up to 3 for ``admin``."""
        return list(Role).index(self)

    @property
    def is_staff(self) -> bool:
        """Agents, managers and admins (everyone who works tickets)."""
        return self is not Role.USER

    @classmethod
    def at_least(cls, role: str) -> tuple[Role, ...]:
        """``role`` and the roles above it: ``Role.at_least("agent")`` is agent, manager, admin."""
        floor = cls(role).rank
        return tuple(r for r in cls if r.rank >= floor)


class TicketStatus(enum.StrEnum):
    """A ticket's status (:attr:`TicketInfo.status`).

    Attributes:
        OPEN: the customer spoke last; the ticket waits for an agent.
        WAITING: an agent spoke last; the ticket waits for the customer (retention may auto-close it).
        CLOSED: closed by a person or by retention; a reply by the customer reopens it unless it is locked.
    """

    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


class PostStatus(enum.StrEnum):
    """A community post's status, from the combined moderation votes (:class:`VerdictAction`).

    Attributes:
        PUBLISHED: visible to everyone (allowed, or approved by a moderator).
        PENDING: held for a moderator; only its author and moderators see it.
        REJECTED: refused by a rule or a moderator; never shown to readers.
    """

    PUBLISHED = "published"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True)
class RedirectProviderInfo:
    """An auth provider that logs people in by sending the browser elsewhere (OpenID Connect, OAuth, SAML):
    a "Sign in with ..." button on the login page (``auth_redirect_providers``). Since contract 1.2.

    Attributes:
        name: the provider's name: one of the names the same plugin declares in ``auth_providers`` (as an
            ``external`` provider); it appears in the callback URL ``/login/sso/NAME/callback``.
        label: the button reads "Sign in with LABEL"; error pages name the provider by it too.
        link_existing: what happens when the person's verified email address belongs to an account that is
            not yet linked to this provider: ``"password"`` - core asks for that account's password once and
            then links the two (the password login keeps working); ``"never"`` - the sign-in is refused and
            the person is told to use their password.
    """

    name: str
    label: str
    link_existing: str = "never"


@dataclass(frozen=True)
class RedirectStart:
    """Where to send the browser to begin a redirect login (``auth_redirect_begin``). Since contract 1.2.

    Attributes:
        url: the provider's authorization URL, carrying the ``state`` core passed in.
        keep: short strings core keeps for this one login attempt (in the person's signed session, never in
            the URL) and hands back to ``auth_redirect_complete``: a PKCE code verifier, a nonce. At most
            2 KB in all; no long-lived secrets.
    """

    url: str
    keep: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- email to ticket (since 1.3)


class MailSourceUnavailable(Exception):
    """A mail source cannot reach its server right now (connection refused, timeout, TLS or login failure).

    Core stops polling that source for this round and retries with a growing delay; nothing is lost,
    because nothing is acknowledged until it is committed.
    """


@dataclass(frozen=True)
class InboundMessage:
    """One raw email a :class:`MailSource` fetched. Since contract 1.3.

    Attributes:
        uid: the message's stable id within its source (IMAP: ``UIDVALIDITY:UID``). With the source's name it is
            the key core stores, so a message fetched twice is ingested once; pass it back to ``ack``.
        raw: the complete RFC 5322 bytes as received, or only the header block when ``truncated``.
        size: the full size in bytes as the server reports it (``len(raw)`` when not truncated).
        truncated: the message is larger than the ``max_bytes`` core asked for, so ``raw`` holds only its
            header block; core records a refusal with the reason (no bounce is sent) and acknowledges it.
    """

    uid: str
    raw: bytes
    size: int = 0
    truncated: bool = False


class MailSource(abc.ABC):
    """A mailbox core turns into tickets (``mail_sources``). Since contract 1.3.

    Core polls each source on the background worker, parses every message, opens a ticket or adds a reply,
    commits, and only *then* calls :meth:`ack`. Rules every source follows (checked by
    :class:`core.contracts.mail.MailSourceContract`):

    * ``fetch`` yields messages not acknowledged yet, oldest first, at most ``limit``. It may yield a message
      again after a crash or a reconnect (at least once); core's ingest is idempotent on ``(name, uid)``.
    * ``ack`` is called only after the ticket or reply is committed (or the message was refused and the
      refusal recorded). Acknowledging deletes, moves or flags the message, per the source's configuration;
      acknowledging a uid twice is not an error.
    * Failing to reach the server raises :class:`MailSourceUnavailable` (from ``fetch`` or ``ack``).

    Attributes:
        name: unique across every enabled source; part of the idempotency key, so never rename a source
            that has fetched mail.
        department: the name of the department its new tickets go to.
        address: the mailbox's own address (mail From it is ignored as a loop).
        accept_from: ``"anyone"`` (unknown senders become email-only customers) or ``"registered"`` (mail
            from addresses without an account is refused and recorded).
        poll_seconds: how often core polls it (the worker's scheduler runs the polls).
    """

    name: str = ""
    department: str = ""
    address: str = ""
    accept_from: str = "anyone"
    poll_seconds: int = 60

    @abc.abstractmethod
    def fetch(self, limit: int, max_bytes: int) -> Iterator[InboundMessage]:
        """Yield up to ``limit`` unacknowledged messages, oldest first.

        :param limit: the most messages to yield in this call.
        :param max_bytes: messages larger than this come back ``truncated`` (headers only).
        :raises MailSourceUnavailable: when the server cannot be reached.
        """

    @abc.abstractmethod
    def ack(self, uid: str) -> None:
        """Acknowledge a message core has committed (delete, move or flag it); idempotent.

        :raises MailSourceUnavailable: when the server cannot be reached (core fetches it again later and
            acknowledges it then, without ingesting it twice).
        """

    def close(self) -> None:  # noqa: B027 - optional hook with a safe default
        """Release connections (called when the worker stops or after a failure)."""
