"""The plugin contract: every hook plugdesk calls, typed and documented.

Conventions (as in pytest and datasette):

* An implementation may accept fewer arguments than the spec lists; pluggy passes only those it names.
* ``ctx`` is the :class:`core.context.PluginContext` of the running app: settings, the plugin's own
  parsed config, runtime settings, the user directory, credentials, mail and logging.
* Every hook declares how core calls it (``@calling``, see :mod:`core.plugin_calls`): ``first`` (the first
  non-``None`` result of a *firstresult* hook), ``collect`` (every result), ``each`` (every plugin, results
  by plugin name), ``chain`` (plugins in order until one decides), ``vote`` (every plugin, isolated),
  ``notify`` (every plugin, isolated; failures logged) or ``one`` (a single named plugin).
* Wrappers (``@hookimpl(wrapper=True)`` or ``hookwrapper=True``) are honoured: around the whole call of a
  ``first``/``collect`` hook, and around each plugin's call of a per-plugin hook.
* Hooks are only ever added; renames go through a deprecation period (see ``docs/hooks.md``).

``HOOKS_VERSION`` in :mod:`core` is the version of this file's contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import hookspec

#: How core calls each hook (see :mod:`core.plugin_calls`): filled in by :func:`calling`.
CALL_STYLES: dict[str, str] = {}

_STYLES = ("first", "collect", "each", "chain", "vote", "notify", "one")


def calling(style: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare how core calls a hook: ``first``, ``collect``, ``each``, ``chain``, ``vote``, ``notify`` or ``one``.

    Put it under ``@hookspec``; ``docs/hooks.md`` shows the style next to each hook.
    """
    if style not in _STYLES:
        raise ValueError(f"unknown calling style {style!r}; one of {', '.join(_STYLES)}")

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        CALL_STYLES[func.__name__] = style
        return func

    return mark


if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from flask import Blueprint

    from core.context import PluginContext
    from core.types import (
        AuthProviderInfo,
        AuthResult,
        BlobStore,
        CaptchaProvider,
        DiagnosticStep,
        PostInfo,
        RequestInfo,
        SettingSpec,
        SweepReport,
        TicketInfo,
        TicketMessageInfo,
        UserInfo,
        Verdict,
    )


# --------------------------------------------------------------------------- configuration


@hookspec
@calling("one")
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> Any:
    """Validate this plugin's own ``[plugins.NAME]`` table from ``plugdesk.toml``.

    Core calls each plugin's implementation separately with that plugin's table only (an empty
    mapping when the table is absent) once at startup. Raise :class:`core.types.PluginConfigError`
    for a bad value: startup stops with a message naming the plugin, the key and the file. The
    returned object is available later as ``ctx.plugin_config("NAME")``.

    :param raw: the plugin's table, secrets already resolved.
    :param ctx: the app's plugin context.
    :return: the parsed configuration (any object).
    """


@hookspec
@calling("each")
def settings_schema() -> list[SettingSpec]:
    """Declare runtime settings this plugin adds to the admin UI, the API and ``plugdesk settings``.

    Keys must start with ``plugins.NAME.``; core stores, validates, audits and caches them exactly like
    its own ``security.*`` settings. Read them with ``ctx.setting(key)``.

    :return: the plugin's setting specs.
    """


@hookspec
@calling("each")
def register_blueprints(ctx: PluginContext) -> list[Blueprint]:
    """Return Flask blueprints to mount (pages or API routes the plugin adds).

    Blueprints get CSRF protection, security headers and error pages like core's own.

    :param ctx: the app's plugin context.
    :return: blueprints, each with a unique name.
    """


# --------------------------------------------------------------------------- authentication (chain)


@hookspec
@calling("each")
def auth_providers(ctx: PluginContext) -> list[AuthProviderInfo]:
    """Describe the auth providers this plugin contributes (name, label, external, registration).

    :param ctx: the app's plugin context.
    :return: one entry per provider; names are unique across plugins.
    """


@hookspec
@calling("chain")
def auth_authenticate(
    username: str, password: str, request: RequestInfo, ctx: PluginContext, username_as_typed: str
) -> AuthResult | None:
    """Check credentials. Called once per plugin in ``[plugins] enabled`` order (the login chain).

    Core has already refused empty or whitespace-only usernames and passwords, normalised the
    username (NFKC, case-folded, stripped) and checked brute-force limits. The chain rules:

    * ``AuthResult.ok(identity)`` logs the person in and stops the chain.
    * ``AuthResult.denied(reason)`` (the account is yours and the credentials are wrong) stops the chain:
      later providers are not asked, and the failure counts toward the brute-force lockout.
    * ``AuthResult.unavailable(reason)`` (your backend is down) lets the chain go on with the next provider
      and never counts toward the lockout; when no provider accepts, the person is told the provider is
      unavailable (by its ``label``).
    * ``None`` defers to the next provider.
    * An exception fails the login closed (no later provider is asked) and is logged with the plugin's name.

    :param username: the normalised username (NFKC, case-folded, stripped; may be an email address or UPN).
    :param password: the password exactly as typed (never log it).
    :param request: who is asking.
    :param ctx: the app's plugin context.
    :param username_as_typed: the username exactly as the person typed it, before normalising (since 1.1),
        for backends whose usernames are case-sensitive.
    """


@hookspec(firstresult=True)
@calling("first")
def auth_set_password(user: UserInfo, password: str, ctx: PluginContext) -> bool | None:
    """Store a new password for ``user`` if your provider owns it (``user.provider``).

    Core has validated the password against the password rules. Return ``True`` when stored,
    ``None`` when the user is not yours. External providers never implement this.

    :param user: the account.
    :param password: the new password in clear (hash it; never log it).
    :param ctx: the app's plugin context.
    """


# --------------------------------------------------------------------------- single-choice areas


@hookspec
@calling("each")
def captcha_providers(ctx: PluginContext) -> dict[str, CaptchaProvider]:
    """Return captcha providers by name; ``[captcha] provider`` picks one.

    Two plugins claiming the same name stop startup.

    :param ctx: the app's plugin context.
    :return: ``{"builtin": provider_instance}``.
    """


@hookspec
@calling("each")
def storage_backends(ctx: PluginContext) -> dict[str, BlobStore]:
    """Return blob stores by name; ``[storage] backend`` picks one.

    Two plugins claiming the same name stop startup.

    :param ctx: the app's plugin context.
    :return: ``{"fs": store_instance}``.
    """


# --------------------------------------------------------------------------- votes and sweeps


@hookspec
@calling("vote")
def moderation_check(author: UserInfo, post: PostInfo, ctx: PluginContext) -> Verdict | None:
    """Vote on a new community post. Core combines all votes: reject > hold > allow.

    :param author: who wrote it.
    :param post: what was written.
    :param ctx: the app's plugin context.
    :return: a :class:`core.types.Verdict` with a reason moderators will see, or ``None`` to abstain.
    """


@hookspec
@calling("each")
def retention_sweep(now: datetime, dry_run: bool, ctx: PluginContext) -> SweepReport | None:
    """Apply (or, with ``dry_run``, report) retention rules as of ``now`` (UTC).

    Core holds the cluster-wide retention lock while this runs, so only one node sweeps at a time.

    :param now: the moment to evaluate rules at (``--now`` on the CLI).
    :param dry_run: report what would change without changing anything.
    :param ctx: the app's plugin context.
    :return: counts per department and action, or ``None`` if the plugin had nothing to do.
    """


# --------------------------------------------------------------------------- lifecycle events


@hookspec
@calling("notify")
def user_registered(user: UserInfo, ctx: PluginContext) -> None:
    """Called after a new account was committed (self-registration, admin, CLI or just-in-time).

    :param user: the new account.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def user_logged_in(user: UserInfo, request: RequestInfo, ctx: PluginContext) -> None:
    """Called after a successful login (web or API).

    :param user: the account.
    :param request: where the login came from.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def setting_changed(key: str, old: Any, new: Any, actor: str, ctx: PluginContext) -> None:
    """Called after a runtime setting was changed and audited.

    :param key: the setting key, e.g. ``security.captcha.enabled``.
    :param old: the previous value.
    :param new: the new value.
    :param actor: username (or ``"cli"``) that made the change.
    :param ctx: the app's plugin context.
    """


# --------------------------------------------------------------------------- admin tools


@hookspec
@calling("one")
def plugin_diagnose(ctx: PluginContext, provider: str | None, username: str | None) -> list[DiagnosticStep] | None:
    """Run a connection test for ``plugdesk plugins test NAME`` and the Plugins page's "Test" button.

    Core calls only the named plugin's implementation. Report each step (connect, TLS, bind, search, ...)
    with its outcome; never include passwords in the details.

    :param ctx: the app's plugin context.
    :param provider: which of the plugin's providers to test (``None`` = all).
    :param username: optionally look this user up as part of the test.
    :return: the steps in order, or ``None`` when the plugin has nothing to test.
    """


# --------------------------------------------------------------------------- tickets (lifecycle events)

@hookspec
@calling("notify")
def ticket_created(ticket: TicketInfo, message: TicketMessageInfo, ctx: PluginContext) -> None:
    """Called after a new ticket and its first message were committed (portal, API, guest form).

    :param ticket: the new ticket (status ``open``).
    :param message: the customer's first message.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def ticket_replied(ticket: TicketInfo, message: TicketMessageInfo, ctx: PluginContext) -> None:
    """Called when a reply or an internal note is added to a ticket, inside the transaction that stores it.

    Mail queued from here with ``ctx.mail.send`` joins that transaction: the notification exists if and
    only if the reply does, and is sent by the background worker afterwards. Do no slow work here and do
    not write to the database through ``ctx.db`` (the reply's transaction is still open).

    ``message.from_agent`` tells who spoke; ``message.internal`` marks notes that customers never see:
    a notification plugin must not send those to the customer.

    :param ticket: the ticket after the reply (status ``waiting`` after an agent's reply, ``open`` after the
        customer's).
    :param message: the new message.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def ticket_closed(ticket: TicketInfo, actor: str, ctx: PluginContext) -> None:
    """Called after a ticket was closed by a person or by a retention sweep.

    :param ticket: the closed ticket.
    :param actor: username of whoever closed it, or ``"retention"`` for the automatic close.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def ticket_locked(ticket: TicketInfo, actor: str, ctx: PluginContext) -> None:
    """Called after a closed ticket was locked (the customer can no longer reply).

    :param ticket: the locked ticket.
    :param actor: username, or ``"retention"`` for the automatic lock.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("notify")
def ticket_deleted(ticket: TicketInfo, actor: str, ctx: PluginContext) -> None:
    """Called after a ticket, its messages, history and attachment references were deleted.

    The snapshot was taken just before the delete; the ticket no longer exists when this runs.

    :param ticket: the ticket as it was.
    :param actor: username of the manager or admin, or ``"retention"`` for the automatic delete.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("each")
def plugin_warnings(ctx: PluginContext) -> list[str] | None:
    """Configuration warnings to show loudly on the Plugins page (e.g. "TLS certificate validation is off").

    Called when the Plugins page is rendered; keep it cheap (no network). Never include secrets.

    :param ctx: the app's plugin context.
    :return: one sentence per warning, or ``None``.
    """


# --------------------------------------------------------------------------- plugin-owned tables


@hookspec
@calling("each")
def plugin_migrations() -> str | None:
    """Name the directory of this plugin's Alembic migrations, so the plugin can own database tables.

    ``plugdesk db upgrade`` and ``plugdesk init`` apply them after (and together with) core's, as one
    more Alembic branch: put the directory in ``version_locations`` and upgrade every head. The test harness
    (``core.testing``) applies them too. Since contract 1.1.

    Rules for the revision files in the directory:

    * the plugin's first revision has ``down_revision = None`` and ``branch_labels = ("NAME",)`` (the
      plugin's name), so its history is a branch of its own that never merges with core's;
    * a revision that needs core's tables declares ``depends_on`` core's revision id;
    * revision ids are unique across every plugin (prefix them with the plugin's name);
    * use only ``alembic.op`` and SQLAlchemy; never alter core's tables - read and change core's data
      through the services on ``ctx``.

    Called without ``ctx``: migrations run before the app exists. Keep it free of side effects.

    :return: an absolute path to an existing directory of Alembic revision files, or ``None`` when the
        plugin has no tables.
    """


# --------------------------------------------------------------------------- redirect logins (since 1.2)

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from core.types import RedirectProviderInfo, RedirectStart


@hookspec
@calling("each")
def auth_redirect_providers(ctx: PluginContext) -> list[RedirectProviderInfo]:
    """List the providers that log people in by redirecting the browser (OpenID Connect, OAuth 2, SAML).

    Each becomes a "Sign in with LABEL" button on the login page. Every name must also be declared by the
    same plugin's ``auth_providers`` as an ``external`` provider (core checks at startup): accounts it
    creates belong to it, never get a local password and never get a reset email. Called once at startup.
    Since contract 1.2.

    :param ctx: the app's plugin context.
    :return: one entry per provider; ``link_existing`` says whether an existing account with the same
        verified email may be linked after its password is proven (``"password"``) or ``"never"``.
    """


@hookspec
@calling("one")
def auth_redirect_begin(provider: str, redirect_uri: str, state: str, ctx: PluginContext) -> RedirectStart:
    """Begin a redirect login: return the provider's URL to send the browser to.

    Core made ``state`` (256 random bits, bound to this browser's session, single use, valid 10 minutes) and
    checks it on the way back; put it into the URL unchanged. Put anything else the callback needs (a PKCE
    verifier, a nonce) into ``RedirectStart.keep``: core keeps it for this attempt only and passes it to
    :func:`auth_redirect_complete`. Raise an exception when the provider cannot be asked (e.g. its
    discovery document does not load): core shows "LABEL cannot be reached right now" and logs it.
    Since contract 1.2.

    :param provider: which of the plugin's providers the person chose.
    :param redirect_uri: the callback URL to send (``[server] base_url`` + ``/login/sso/NAME/callback``);
        register exactly this URL at the provider.
    :param state: the value to send as the ``state`` parameter.
    :param ctx: the app's plugin context.
    :return: the URL and what to keep.
    """


@hookspec
@calling("one")
def auth_redirect_complete(
    provider: str, params: Mapping[str, str], kept: Mapping[str, str], redirect_uri: str, request: RequestInfo,
    ctx: PluginContext,
) -> AuthResult:
    """Finish a redirect login on the callback: check the provider's answer and say who the person is.

    Core has already checked ``state`` (bound to this browser, unexpired, never used before) and removed it,
    so a replayed callback never reaches you. Return:

    * ``AuthResult.ok(Identity(provider=..., external_id=<stable subject id>, username=..., email=...,
      email_verified=..., role=...))`` - core finds the account linked to ``(provider, external_id)``,
      applies the linking rule of :class:`core.types.RedirectProviderInfo` when the email belongs to another
      account, or creates one just in time, then starts the session like a password login (second factor
      included);
    * ``AuthResult.denied(reason, message)`` - refused: ``reason`` goes to the admin log, ``message`` is what
      the person reads (cancelled at the provider, token checks failed, a required claim is missing);
    * ``AuthResult.unavailable(reason)`` - the provider could not be reached (token endpoint down).

    An exception is logged with the plugin's name and shown as a generic failure page.
    Since contract 1.2.

    :param provider: the provider named in the callback URL.
    :param params: the callback's query parameters (``code``, ``state``, ``iss``, or ``error`` and
        ``error_description`` when the person cancelled or the provider refused).
    :param kept: what :func:`auth_redirect_begin` returned in ``RedirectStart.keep``.
    :param redirect_uri: the same callback URL as at the beginning (token requests repeat it).
    :param request: who is asking.
    :param ctx: the app's plugin context.
    """


@hookspec
@calling("one")
def auth_redirect_logout(provider: str, user: UserInfo, post_logout_redirect_uri: str,
                         ctx: PluginContext) -> str | None:
    """Where to send the browser after core ended a session that began with this provider (RP-initiated
    logout), so the person is signed out at the provider too.

    Core has already ended every local session of the account. Keep it cheap (use cached metadata); return
    ``None`` when the provider has no logout endpoint. Since contract 1.2.

    :param provider: the provider the session began with.
    :param user: the account that logged out.
    :param post_logout_redirect_uri: where the provider should send the person back (the portal's home
        page, ``[server] base_url`` + ``/``); register it at the provider.
    :param ctx: the app's plugin context.
    :return: the provider's logout URL, or ``None``.
    """


# --------------------------------------------------------------------------- email to ticket (since 1.3)

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from core.types import MailSource


@hookspec
@calling("each")
def mail_sources(ctx: PluginContext) -> list[MailSource]:
    """Contribute the mailboxes core turns into tickets (IMAP, Microsoft Graph, a forwarding webhook's queue).

    Called once, the first time the background worker polls (never on a web request). Core polls each
    source every ``poll_seconds`` on the worker's scheduler, parses each message (standard library
    ``email``, ``policy.default``), opens a ticket in the source's ``department`` or adds a reply to the
    ticket the message answers (``In-Reply-To``/``References`` against the Message-IDs of the ticket's
    notifications; a ``[#ID]`` subject token only from that ticket's customer or its department's agents),
    commits, and only then calls ``source.ack(uid)``. Ingest is idempotent on ``(source.name, uid)`` and on the
    Message-ID, so a source may deliver a message more than once. Loops and junk (``Auto-Submitted``,
    ``Precedence: bulk``, ``MAILER-DAEMON``, a per-sender rate limit) are filed without a ticket; bounces
    mark the outbox message they answer. Source names must be unique across plugins (the poll records a
    failure naming both plugins otherwise). Since contract 1.3.

    :param ctx: the app's plugin context.
    :return: the plugin's sources (:class:`core.types.MailSource`), each with a unique ``name``.
    """
