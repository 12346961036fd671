'''The ``mail_sources`` area of ``plugdesk plugin new``: a plugin that turns a mailbox into tickets (a mail API,
a forwarding webhook's queue, POP3), tested by ``core.testing.MailSourceContract``.

The scaffold loads and contributes one source, but ``fetch`` and ``ack`` raise ``NotImplementedError`` and the
``deliver`` fixture is a TODO, so the contract suite fails until they are written. The in-tree ``mail_imap``
plugin is a finished example.
'''

from __future__ import annotations

from typing import Any

#: The fields of :class:`core.plugin_kit.areas.Area` for the mail_sources area (areas.py builds it).
MAIL_SOURCES_PARTS: dict[str, Any] = dict(
    imports=("from collections.abc import Iterator\n\n"
             "from core import (\n    ConfigModel, InboundMessage, MailSource, MailSourceUnavailable, hookimpl, "
             "parse_plugin_config,\n)"),
    keys=('    url: str = ""  # TODO: where your mailbox lives\n'
          '    department: str = "General"  # new tickets go to this department\n'
          '    accept_from: str = "anyone"  # or "registered"\n'
          '    poll_seconds: int = 60'),
    hooks=("mail_sources", "parse_config"),
    body='''

class Source(MailSource):
    """TODO: fetch raw messages and acknowledge them after plugdesk committed them.

    Rules (plugdesk's MailSourceContract checks them): ``fetch`` yields unacknowledged messages oldest first,
    at most ``limit``, again and again until acknowledged; a message above ``max_bytes`` comes as its header
    block with ``truncated=True``; ``ack`` is idempotent; a server that cannot be reached raises
    ``MailSourceUnavailable`` (plugdesk retries later with a growing delay).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.name = NAME  # part of the idempotency key: never rename a source that has fetched mail
        self.department = config["department"]
        self.accept_from = config["accept_from"]
        self.poll_seconds = config["poll_seconds"]
        self.config = config

    def fetch(self, limit: int, max_bytes: int) -> Iterator[InboundMessage]:
        """Yield ``InboundMessage(uid=..., raw=..., size=...)`` for each unacknowledged message."""
        raise NotImplementedError(f"{NAME}: Source.fetch is not written yet (TODO in {__name__})")

    def ack(self, uid: str) -> None:
        """Delete, move or flag the message ``uid`` (plugdesk committed its ticket or reply)."""
        raise NotImplementedError(f"{NAME}: Source.ack is not written yet (TODO in {__name__})")


@hookimpl
def mail_sources(ctx: Any) -> list[MailSource]:
    """The sources this plugin contributes (one per mailbox)."""
    return [Source(ctx.plugin_config(NAME))]


__all__ = ["MailSourceUnavailable", "Source", "mail_sources", "parse_config"]
''',
    test_imports="from core.testing import MailSourceContract",
    tests='''

class Test__CLASS__Contract(MailSourceContract):
    """Everything plugdesk expects from a mail source (order, at-least-once until ack, size limit, round trip)."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    invalid_config = {"poll_seconds": "often"}  # values parse_config must refuse, naming the key

    @pytest.fixture
    def source(self, app: Any) -> Any:
        return self.sources(app)[0]

    @pytest.fixture
    def deliver(self, app: Any) -> Any:
        """TODO: ``deliver(raw)`` puts a message into the source's (empty, throwaway) mailbox - start a test
        server in a fixture, or call your mail API."""
        def put(raw: bytes) -> None:
            raise NotImplementedError("TODO: deliver a test message to your mailbox")
        return put
''')
