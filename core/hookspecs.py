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
    """Called after a reply or an internal note was committed to a ticket.

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
