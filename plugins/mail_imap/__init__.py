"""``mail_imap``: fetch email into tickets from IMAP mailboxes, each bound to a department (``mail_sources``).

Configure one or more mailboxes in ``plugdesk.toml``::

    [plugins.mail_imap]
    [[plugins.mail_imap.mailboxes]]
    name = "support"                      # never rename a mailbox that has fetched mail (it keys idempotency)
    host = "imap.example.com"
    security = "tls"                      # "tls" (port 993), "starttls" (port 143) or "none" (tests only)
    ca_file = "/etc/ssl/private-ca.pem"   # optional; default: the system's trusted CAs
    username = "support@example.com"
    password = { "$env" = "SUPPORT_IMAP_PASSWORD" }
    department = "General"
    address = "support@example.com"
    accept_from = "anyone"                # or "registered"
    poll_seconds = 60
    ack = "seen"                          # "seen", "delete" or "move" (to move_to)

Polling runs on the background worker; only the public contract (``core``) is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import DiagnosticStep, MailSource, PluginConfigError, PluginContext, hookimpl, parse_plugin_config
from plugins.mail_imap.config import ImapConfig
from plugins.mail_imap.source import ImapSource, diagnose

PLUGDESK_HOOKS_VERSION = ">=1.3,<2"
NAME = "mail_imap"


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> ImapConfig:
    """Validate ``[plugins.mail_imap]``: mailbox names unique, a CA file that exists."""
    config = parse_plugin_config(ImapConfig, raw)
    names = [m.name for m in config.mailboxes]
    for name in names:
        if names.count(name) > 1:
            raise PluginConfigError("mailboxes", f"two mailboxes are named {name!r}; names must be unique")
    base = ctx.settings.source.parent if ctx.settings.source else None
    for i, box in enumerate(config.mailboxes):
        if box.ca_file:
            path = box.ca_path(base)
            if not path.is_file():
                raise PluginConfigError(f"mailboxes[{i}].ca_file", f"{path} does not exist")
    return config


def _config(ctx: PluginContext) -> ImapConfig:
    config = ctx.plugin_config(NAME)
    return config if isinstance(config, ImapConfig) else ImapConfig()


@hookimpl
def mail_sources(ctx: PluginContext) -> list[MailSource]:
    """One :class:`ImapSource` per configured mailbox."""
    base = ctx.settings.source.parent if ctx.settings.source else None
    return [ImapSource(box, base, ctx.log(NAME)) for box in _config(ctx).mailboxes]


@hookimpl
def plugin_diagnose(ctx: PluginContext, provider: str | None) -> list[DiagnosticStep] | None:
    """Connect, log in and open the folder of each mailbox (or only ``provider``); passwords never shown."""
    base = ctx.settings.source.parent if ctx.settings.source else None
    boxes = [b for b in _config(ctx).mailboxes if provider in (None, b.name)]
    if not boxes:
        return [DiagnosticStep("mailboxes", False, f"no mailbox named {provider!r}" if provider
                               else "no mailbox is configured ([[plugins.mail_imap.mailboxes]])")]
    return [step for box in boxes for step in diagnose(box, base)]


@hookimpl
def plugin_warnings(ctx: PluginContext) -> list[str] | None:
    """Mailboxes whose password crosses the network in clear or whose certificate is not checked."""
    out = []
    for box in _config(ctx).mailboxes:
        if box.security == "none":
            out.append(f"Mailbox {box.name}: security = \"none\" sends the IMAP password unencrypted.")
        if not box.tls_verify:
            out.append(f"Mailbox {box.name}: TLS certificate validation is off (tls_verify = false).")
    return out or None
