"""Fixtures for the mail_imap tests: a real Dovecot (session-wide), one fresh IMAP user per test, apps wired
to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.inbound_mail import add_department
from tests.plugins.mail_imap.dovecot import Dovecot, make_dovecot, remove


@pytest.fixture(scope="session")
def dovecot(certs: dict[str, str]) -> Iterator[Dovecot]:
    """Dovecot 2.3 on loopback: IMAP (STARTTLS) and IMAPS with the session's test CA."""
    try:
        server = make_dovecot(certs)
    except (RuntimeError, TimeoutError, OSError) as exc:
        pytest.fail(f"cannot start dovecot (apt-get install dovecot-imapd): {exc}")
    yield server
    remove(server)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> str:
    """A new, empty IMAP account; its name (password: NAME-pass)."""
    return dovecot.add_user()


def mailbox_table(dovecot: Dovecot, user: str, **extra: Any) -> dict[str, Any]:
    """One ``[[plugins.mail_imap.mailboxes]]`` table for ``user`` over IMAPS with the test CA."""
    return {"name": user, "host": "127.0.0.1", "port": dovecot.tls_port, "security": "tls", "ca_file": dovecot.ca,
            "username": user, "password": dovecot.users[user], "department": "General",
            "address": f"{user}@help.example", "poll_seconds": 5, **extra}


@pytest.fixture
def imap_app(plugdesk_app_factory: Callable[..., Any], dovecot: Dovecot, mailbox: str) -> Callable[..., Any]:
    """``imap_app(**mailbox_keys)``: an app (auth_local, storage_fs, notify_email, mail_imap) fetching from
    ``mailbox``, with the department "General"."""
    def make(**extra: Any) -> Any:
        app = plugdesk_app_factory(["auth_local", "storage_fs", "notify_email", "mail_imap"], overrides={
            "plugins": {"mail_imap": {"mailboxes": [mailbox_table(dovecot, mailbox, **extra)]}}})
        add_department(app)
        return app
    return make
