"""The object every hook receives as ``ctx``: what a plugin may use of the running app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.db import Database
from core.limits import CounterStore
from core.services import Departments, Passwords, TicketOperations
from core.settings import Settings
from core.users import CredentialStore, UserDirectory

if TYPE_CHECKING:  # pragma: no cover
    from core.outbox.service import OutboxMailer
    from core.runtime_settings import RuntimeSettings


class PluginMail:
    """``ctx.mail``: send a plain-text message to one address.

    The message is queued in core's mail outbox - in the transaction of the event your hook is told about
    when there is one (``ticket_replied``) - and the background worker hands it to ``[mail] url`` with
    retries (docs/email.md). Nothing waits for the mail server. Core adds the headers (Message-ID,
    ``Auto-Submitted``, and with ``ticket_id`` the thread headers, the ``[#ID]`` subject tag and the
    department's Reply-To) and an HTML part rendered from the text. Never put passwords in a message.
    """

    def __init__(self, ctx: PluginContext) -> None:
        self._ctx = ctx

    def send(self, to: str, subject: str, body: str, *, ticket_id: int | None = None, to_name: str = "",
             html: str | None = None, ticket_message_id: int | None = None) -> None:
        """Queue ``body`` (plain text) with ``subject`` for the address ``to``.

        :param ticket_id: the ticket the message is about (threading headers, subject tag, Reply-To).
        :param to_name: the recipient's display name (any characters; encoded by core).
        :param html: your own HTML part instead of the one core renders from ``body``.
        :param ticket_message_id: the ticket message the mail is about (shown on Management > Mail); in a
            ``ticket_replied`` hook it defaults to the event's message when ``ticket_id`` is the event's ticket.
        :raises core.MailError: when the message could not be queued.
        """
        self._ctx.mailer.send(to, subject, body, ticket_id=ticket_id, to_name=to_name, html=html,
                              ticket_message_id=ticket_message_id)


@dataclass
class PluginContext:
    """Per-app services for plugins. Never stored at module level: one app, one context.

    What a plugin may use (everything else is core's business):

    * ``settings`` - ``plugdesk.toml`` as loaded (:meth:`core.settings.Settings.get`); read your own table
      through :meth:`plugin_config` instead.
    * ``users`` / ``credentials`` - look up and create accounts; per-provider secrets (e.g. password hashes).
    * ``passwords`` - :class:`core.services.Passwords`: hash and verify passwords (argon2id).
    * ``mail`` - :class:`PluginMail`: send a message (``mailer`` is the outbox underneath; prefer ``mail``).
    * ``departments`` - :class:`core.services.Departments`: departments and their retention settings.
    * ``tickets`` - :class:`core.services.TicketOperations`: set-based close / lock / delete of tickets.
    * ``limits`` - counters shared by every node (rate limits of your own).
    * ``db`` - core's database; plugins keep their own tables through ``plugin_migrations`` and never
      touch core's tables directly.
    * :meth:`setting`, :meth:`plugin_config`, :meth:`log`, ``secret_key``.
    """

    settings: Settings
    db: Database
    users: UserDirectory
    credentials: CredentialStore
    mailer: OutboxMailer
    limits: CounterStore
    runtime: RuntimeSettings | None = None
    secret_key: str = ""  # the app's signing key (sign tokens with it; never log it)
    _plugin_configs: dict[str, Any] = field(default_factory=dict)
    departments: Departments = field(init=False)
    tickets: TicketOperations = field(init=False)
    passwords: Passwords = field(init=False)
    mail: PluginMail = field(init=False)

    def __post_init__(self) -> None:
        self.departments = Departments(self.db)
        self.tickets = TicketOperations(self.db)
        self.passwords = Passwords()
        self.mail = PluginMail(self)

    def plugin_config(self, name: str) -> Any:
        """The object the plugin's ``parse_config`` returned (its raw table if it has none)."""
        if name in self._plugin_configs:
            return self._plugin_configs[name]
        return self.settings.plugin_table(name)

    def setting(self, key: str) -> Any:
        """A runtime setting's current value (``security.*`` or a plugin's ``plugins.NAME.*``)."""
        if self.runtime is None:
            raise RuntimeError("runtime settings are not ready yet")
        return self.runtime.get(key)

    def log(self, plugin: str) -> logging.Logger:
        """The logger for a plugin: ``plugdesk.plugins.NAME``."""
        return logging.getLogger(f"plugdesk.plugins.{plugin}")
