"""mail_imap passes plugdesk's mail source contract against a real Dovecot (IMAPS, test CA)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.testing import MailSourceContract
from tests.plugins.mail_imap.conftest import mailbox_table
from tests.plugins.mail_imap.dovecot import Dovecot

pytestmark = pytest.mark.slow


class TestMailImapContract(MailSourceContract):
    plugin_name = "mail_imap"
    enabled = ("auth_local", "storage_fs")
    #: a valid table for the configuration checks (nothing connects at startup)
    overrides = {"plugins": {"mail_imap": {"mailboxes": [{"name": "support", "host": "127.0.0.1", "port": 1,
                                                          "username": "u", "password": "p",
                                                          "department": "General"}]}}}
    invalid_config = {"mailboxes": [{"name": "x", "host": "h", "username": "u", "department": "d",
                                     "security": "ssl"}]}

    @pytest.fixture
    def app(self, plugdesk_app_factory: Callable[..., Any], dovecot: Dovecot, mailbox: str) -> Any:
        return plugdesk_app_factory(["auth_local", "storage_fs", "mail_imap"], overrides={
            "plugins": {"mail_imap": {"mailboxes": [mailbox_table(dovecot, mailbox)]}}})

    @pytest.fixture
    def source(self, app: Any) -> Any:
        source = self.sources(app)[0]
        yield source
        source.close()

    @pytest.fixture
    def deliver(self, dovecot: Dovecot, mailbox: str) -> Callable[[bytes], None]:
        return lambda raw: dovecot.append(mailbox, raw)


class TestMailImapContractStartTLSDeleting(TestMailImapContract):
    """The same guarantees over STARTTLS with ``ack = "delete"``."""

    @pytest.fixture
    def app(self, plugdesk_app_factory: Callable[..., Any], dovecot: Dovecot, mailbox: str) -> Any:
        table = mailbox_table(dovecot, mailbox, port=dovecot.port, security="starttls", ack="delete")
        return plugdesk_app_factory(["auth_local", "storage_fs", "mail_imap"],
                                    overrides={"plugins": {"mail_imap": {"mailboxes": [table]}}})
