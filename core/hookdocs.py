"""Render the hook reference (``docs/hooks.md``) from ``core/hookspecs.py``.

``python -m core.hookdocs > docs/hooks.md`` regenerates the reference part; the meta-tests check that every
hook's exact signature appears in the docs and that every hook is exercised by a test.
"""

from __future__ import annotations

import inspect

from core import HOOKS_VERSION, hookspecs
from core.hookspecs import CALL_STYLES
from core.plugins import deprecation_notes, spec_names
from core.typedocs import render_types

INTRO = f"""# The plugdesk hook contract (HOOKS_VERSION {HOOKS_VERSION})

Plugins are Python modules (or objects) with functions marked `@hookimpl`
(`from core import hookimpl`, or `pluggy.HookimplMarker("plugdesk")` without importing plugdesk). They are
found through the entry-point group `plugdesk.plugins` and only imported when named in
`[plugins] enabled` of `plugdesk.toml`; the order of that list is the order of every chain.

Rules:

- An implementation may accept **fewer** arguments than the spec; pluggy passes the ones it names. An
  argument that is not in the spec, or a hook name that does not exist, stops startup with the plugin's name
  and the closest hook name.
- Declare the contract versions you support in a module attribute, e.g.
  `PLUGDESK_HOOKS_VERSION = ">=1.0,<2"`; plugdesk refuses to start an incompatible plugin and says which
  version it provides.
- *firstresult* hooks stop at the first non-`None` result. Single-choice areas (captcha, storage) pick
  one provider by name; two plugins claiming the same name stop startup. Moderation votes are combined by
  core: reject > hold > allow.
- An exception in an auth hook fails the login closed and is logged with the plugin's name; an exception in
  an event hook is logged and never undoes what happened.
- `ctx` is a `core.PluginContext`: `ctx.settings` (static config, secrets resolved),
  `ctx.plugin_config(name)` (what your `parse_config` returned), `ctx.setting(key)` (runtime settings),
  `ctx.users`, `ctx.credentials`, `ctx.passwords` (argon2id `hash` / `verify` / `needs_rehash` /
  `equal_work`), `ctx.mail.send(to, subject, body)`, `ctx.departments` (`list()` / `get(id)`:
  `DepartmentInfo` with the retention settings), `ctx.tickets` (`close_waiting` / `lock_closed` /
  `delete_closed`: set-based, batched, idempotent, with `dry_run`; each returns a count), `ctx.limits`
  (atomic counters and single-use markers, in-process or Redis), `ctx.secret_key`, `ctx.log(name)`.
  Plugins never touch core's tables; tables of their own come with `plugin_migrations`.
- Hooks are only added in minor versions; a hook or argument is renamed only after a deprecation period of
  one minor version during which the old name keeps working with a warning naming the replacement.

Value types (`AuthResult`, `Identity`, `UserInfo`, `CaptchaProvider`, `BlobStore`, `Verdict`, ...): every
field, its type and meaning under [Value types](#value-types) below; import them from `core`.

## Hooks
"""


#: The hook contract's history, newest first: (HOOKS_VERSION, what changed). Add an entry with every change
#: to ``core/hookspecs.py``; a rename also goes into ``core.plugins.DEPRECATED_HOOKS`` / ``DEPRECATED_ARGS``.
CHANGELOG: list[tuple[str, list[str]]] = [
    ("1.3", [
        "Email to ticket: the hook area `mail_sources` (a plugin contributes mailboxes; core polls them on the "
        "background worker, turns each message into a ticket or a reply, and acknowledges it only after the "
        "commit). New value types `MailSource` (`fetch` / `ack` / `close`, with `name`, `department`, "
        "`address`, `accept_from`, `poll_seconds`) and `InboundMessage` (`uid`, `raw`, `size`, `truncated`), "
        "and the error `MailSourceUnavailable`.",
        "Contract suite `MailSourceContract` in `core.testing`; `plugdesk plugin new NAME --area mail_sources`.",
        "Single sign-on and two-factor: `Identity.mfa` (default `False`) - a redirect provider vouches that the "
        "person passed a second factor with it; core then skips its own second step after "
        "`auth_redirect_complete` and counts the session as two-factor. `plugdesk plugin new NAME --area "
        "redirect` scaffolds a redirect-login plugin with the `RedirectLoginContract` suite.",
        "Behaviour change: `ticket_replied` is called **inside the transaction that stores the reply**, before "
        "it commits (it used to run after the commit, in a transaction of its own). Mail an implementation "
        "queues with `ctx.mail.send` joins that transaction, so the notification exists if and only if the "
        "reply does. Do no slow work there and do not write through `ctx.db` (on SQLite that waits for the "
        "reply's own lock); a failing implementation is still logged and never undoes the reply.",
        "`ctx.mail.send` gains `ticket_message_id`: the ticket message a mail is about (Management > Mail "
        "shows it). Mail queued for the event's ticket in `ticket_replied` records the event's message "
        "without it.",
        "Behaviour change: during a registration `auth_set_password` is called **inside the transaction that "
        "creates the account** (with its \"Confirm your email address\" message); `user_registered` follows "
        "the commit as before. `ctx.credentials.set` and `ctx.users.create` join that transaction, so a "
        "failing implementation leaves no account behind; write anything else through `ctx.db.joined()` "
        "(the surrounding core transaction, or a new one), never a second `ctx.db.session()` (on SQLite it "
        "would wait for the registration's own lock).",
        "Behaviour change: `ctx.mail.send` (and `ctx.mailer.send`) no longer talks SMTP. It writes a row to core's "
        "mail outbox and returns at once; the background worker sends it with retries (docs/email.md). It "
        "raises `core.MailError` only when the row cannot be written, never for a mail server that is down or "
        "refuses the message (see Management > Mail). New keyword arguments `ticket_id` (threading headers, "
        "`[#ID]` subject tag, the department's `Reply-To`), `to_name` and `html`.",
    ]),
    ("1.2", [
        "Redirect logins (single sign-on with OpenID Connect, OAuth 2 or SAML): `auth_redirect_providers` "
        "(the \"Sign in with ...\" buttons and each provider's account-linking rule), `auth_redirect_begin` "
        "(the provider's URL; core makes and checks `state`), `auth_redirect_complete` (the callback's answer "
        "as an `AuthResult`) and `auth_redirect_logout` (RP-initiated logout). New value types "
        "`RedirectProviderInfo` and `RedirectStart`; `AuthResult` gains `message` (what the person reads "
        "after a refused redirect login; `denied` and `unavailable` take it as an optional second argument).",
        "Contract suite `RedirectLoginContract` in `core.testing`; `plugdesk plugin new NAME --area sso`.",
    ]),
    ("1.1", [
        "Core calls every hook through pluggy (`pm.hook`, or a one-plugin `subset_hook_caller` for per-plugin "
        "hooks), in the calling style each hook declares (`first`, `collect`, `each`, `chain`, `vote`, `notify`, "
        "`one`; shown next to each hook below). Behaviour change: **wrappers are honoured**. Before 1.1 a "
        "`@hookimpl(wrapper=True)` implementation of a per-plugin hook was called like a plain function: its "
        "body never ran and its generator was counted as a result (a wrapper `moderation_check` held every "
        "post). Now a wrapper wraps the whole call of a `first`/`collect` hook and each plugin's call of a "
        "per-plugin hook; a plugin with both a wrapper and a plain implementation of one per-plugin hook is "
        "refused at startup. `tryfirst`/`trylast` reorder every chain and vote, and pluggy's tracing and "
        "`add_hookcall_monitoring` see every call (`core.testing.HookRecorder` uses only that channel).",
        "`auth_authenticate` gains the argument `username_as_typed` (the username before normalising) and is "
        "documented as the `chain` it always was: `denied` stops it, `unavailable` and `None` go on (it is no "
        "longer marked *firstresult*, which never described it).",
        "People whose provider is unreachable read the provider's `label` (\"Acme Control Panel cannot be "
        "reached right now\") instead of fixed directory wording.",
        "New hook `plugin_migrations`: a plugin owns database tables through an Alembic branch of its own, "
        "applied by `plugdesk db upgrade`, `plugdesk init` and the test harness.",
        "One public surface: `core` re-exports the markers, every value type (now all in `core.types`, including "
        "`TicketInfo`, `TicketMessageInfo` and the new `DepartmentInfo`), `PluginContext` and the errors; "
        "`ctx` gains documented services: `ctx.departments` (retention settings), `ctx.tickets` (set-based "
        "close / lock / delete with `dry_run`), `ctx.passwords` (argon2id) and `ctx.mail`. Plugins import "
        "`core` and `core.testing` only.",
    ]),
    ("1.0", [
        "First published contract: configuration (`parse_config`, `settings_schema`, `register_blueprints`), "
        "the auth chain (`auth_providers`, `auth_authenticate`, `auth_set_password`), single-choice areas "
        "(`captcha_providers`, `storage_backends`), votes and sweeps (`moderation_check`, `retention_sweep`), "
        "events (`user_registered`, `user_logged_in`, `setting_changed`, `ticket_created`, `ticket_replied`, "
        "`ticket_closed`, `ticket_locked`, `ticket_deleted`) and `plugin_diagnose`.",
        "Contract suites for plugin tests in `core.testing`: `AuthProviderContract`, `CaptchaProviderContract`, "
        "`StorageBackendContract`, `ModerationContract`, `RetentionContract`.",
    ]),
]

COMPAT = """How versions work: a plugin declares `PLUGDESK_HOOKS_VERSION` (a PEP 440 specifier). A **minor** version
(1.0 -> 1.1) only adds hooks or arguments, so `">=1.0,<2"` keeps working; a hook or argument that is
renamed keeps working under its old name for at least one minor version (until the removal version listed
under "Deprecated right now"), with a `DeprecationWarning` and a log line naming the replacement. Writing
plugins: `docs/writing-plugins.md`.
"""


#: Notes shown before the first hook of a group (kept here so that regenerating never loses them).
GROUP_NOTES: dict[str, str] = {
    "ticket_closed": ("*Ticket events* (`ticket_created`, `ticket_replied`, `ticket_closed`, `ticket_locked`, "
                      "`ticket_deleted`; see `docs/tickets.md`). They receive read-only snapshots, "
                      "`core.TicketInfo` and `core.TicketMessageInfo`; a failing implementation is logged "
                      "and never undoes the change. Actions of a retention sweep fire them too, with "
                      '`actor="retention"`.'),
}


def changelog() -> str:
    """The "Changelog of the hook contract" section (versions, then what is deprecated right now)."""
    lines = ["## Changelog of the hook contract", "", COMPAT]
    for version, changes in CHANGELOG:
        lines.append(f"### {version}\n")
        lines += [f"- {change}" for change in changes]
        lines.append("")
    notes = deprecation_notes()
    lines.append("### Deprecated right now\n")
    lines += [f"- {note}" for note in notes] if notes else ["- Nothing: every hook and argument is current."]
    return "\n".join(lines) + "\n"


def signature(name: str) -> str:
    """``def name(args) -> result`` exactly as the spec declares it (annotations unquoted)."""
    return f"def {name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")


def render() -> str:
    """The full Markdown text."""
    parts = [INTRO]
    for name in spec_names():
        func = getattr(hookspecs, name)
        opts = getattr(func, "plugdesk_spec", {}) or {}
        style = CALL_STYLES.get(name, "?")
        flag = f" *({style}{', firstresult' if opts.get('firstresult') else ''})*"
        if name in GROUP_NOTES:
            parts.append(GROUP_NOTES[name] + "\n")
        parts.append(f"### `{name}`{flag}\n\n```python\n{signature(name)}\n```\n\n"
                     f"{inspect.cleandoc(func.__doc__ or '')}\n")
    parts.append(render_types())
    parts.append(changelog())
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
