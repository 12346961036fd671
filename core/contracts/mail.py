"""``MailSourceContract``: what every ``mail_sources`` plugin guarantees (since contract 1.3).

Subclass it, name the plugin, configure it (``overrides``) and provide two fixtures: ``source`` - one of the
plugin's sources bound to an *empty* mailbox - and ``deliver`` - ``deliver(raw: bytes)`` puts a message into
that mailbox (a test server, an API)::

    from core.testing import MailSourceContract

    class TestMySourceContract(MailSourceContract):
        plugin_name = "my_mail"
        overrides = {"plugins": {"my_mail": {"mailboxes": [...]}}}

        @pytest.fixture
        def source(self, app):
            return self.sources(app)[0]

        @pytest.fixture
        def deliver(self, mailbox):
            return mailbox.append

The suite checks the sources' attributes, fetch order and ``limit``, at-least-once delivery until ``ack``,
idempotent ``ack``, headers-only fetches above ``max_bytes``, reconnecting after ``close``, and a round trip
through core's poller (a ticket is opened, the message acknowledged).
"""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from core.contracts import PluginUnderTest
from core.types import InboundMessage, MailSource

Deliver = Callable[[bytes], Any]
MB = 1024 * 1024


def sample(subject: str, body: str = "Hello from the contract suite.", sender: str = "contract@example.com") -> bytes:
    """A small RFC 5322 message with a fresh Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="contract.example")
    msg.set_content(body)
    return msg.as_bytes().replace(b"\n", b"\r\n")


def subject_of(message: InboundMessage) -> str:
    """The Subject of a fetched message."""
    return str(message_from_bytes(message.raw, policy=policy.default)["subject"])


class MailSourceContract(PluginUnderTest):
    """Pytest class suite for mail source plugins (not collected itself; subclasses are)."""

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def source(self, app: Any) -> MailSource:
        """One of the plugin's sources, bound to an empty mailbox."""
        raise NotImplementedError("subclass MailSourceContract and provide a `source` fixture")

    @pytest.fixture
    def deliver(self, app: Any) -> Deliver:
        """``deliver(raw)``: put a message into the ``source``'s mailbox."""
        raise NotImplementedError("subclass MailSourceContract and provide a `deliver` fixture")

    # ------------------------------------------------------------------ helpers
    def sources(self, app: Any) -> list[MailSource]:
        """The plugin's own ``mail_sources``, called as core calls it."""
        found = self.call(app, "mail_sources")
        assert isinstance(found, list), f"mail_sources returned {type(found).__name__}, not a list"
        return found

    @staticmethod
    def fetch(source: MailSource, limit: int = 100, max_bytes: int = 10 * MB) -> list[InboundMessage]:
        """Everything one ``fetch`` yields, checked for shape."""
        out = list(source.fetch(limit, max_bytes))
        for m in out:
            assert isinstance(m, InboundMessage) and isinstance(m.uid, str) and m.uid
            assert isinstance(m.raw, bytes) and m.size >= len(m.raw) and m.size > 0
        return out

    # ------------------------------------------------------------------ the contract
    def test_sources_are_well_formed(self, app: Any) -> None:
        found = self.sources(app)
        assert found, "the configured plugin contributes no source"
        names = [s.name for s in found]
        assert len(set(names)) == len(names) and all(names), names
        for s in found:
            assert isinstance(s, MailSource)
            assert isinstance(s.department, str) and s.department
            assert s.accept_from in ("anyone", "registered")
            assert isinstance(s.poll_seconds, int | float) and s.poll_seconds > 0

    def test_fetch_yields_delivered_messages_oldest_first(self, source: MailSource, deliver: Deliver) -> None:
        assert self.fetch(source) == [], "the `source` fixture must start with an empty mailbox"
        for n in range(3):
            deliver(sample(f"contract message {n}"))
        got = self.fetch(source)
        assert [subject_of(m) for m in got] == [f"contract message {n}" for n in range(3)]
        assert len({m.uid for m in got}) == 3 and not any(m.truncated for m in got)
        assert [m.uid for m in self.fetch(source, limit=2)] == [m.uid for m in got[:2]]

    def test_unacknowledged_messages_come_again_and_ack_is_idempotent(self, source: MailSource,
                                                                       deliver: Deliver) -> None:
        deliver(sample("first"))
        deliver(sample("second"))
        once = self.fetch(source)
        assert [m.uid for m in self.fetch(source)] == [m.uid for m in once], "not at-least-once"
        source.ack(once[0].uid)
        source.ack(once[0].uid)  # twice: no error
        assert [subject_of(m) for m in self.fetch(source)] == ["second"]
        source.ack(once[1].uid)
        assert self.fetch(source) == []

    def test_messages_above_max_bytes_come_as_headers_only(self, source: MailSource, deliver: Deliver) -> None:
        deliver(sample("large", body="x" * 60_000))
        [m] = self.fetch(source, max_bytes=20_000)
        assert m.truncated and m.size > 60_000 and len(m.raw) < 20_000
        assert subject_of(m) == "large"

    def test_close_then_fetch_again(self, source: MailSource, deliver: Deliver) -> None:
        deliver(sample("after close"))
        source.close()
        source.close()  # twice: no error
        assert [subject_of(m) for m in self.fetch(source)] == ["after close"]

    def test_round_trip_through_core(self, app: Any, source: MailSource, deliver: Deliver) -> None:
        from sqlalchemy import select

        from core.inbound.poll import poll_source
        from core.tickets.models import Department, Ticket

        st = self.state(app)
        with st.db.session() as s:
            if s.scalar(select(Department).where(Department.name == source.department)) is None:
                s.add(Department(name=source.department))
        deliver(sample("through core", body="Please open a ticket."))
        assert poll_source(st, source) == {"ticket": 1}
        assert self.fetch(source) == [], "core acknowledged the message, but the source yields it again"
        with st.db.session() as s:
            assert [t.subject for t in s.scalars(select(Ticket))] == ["through core"]
