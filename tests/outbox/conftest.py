"""SMTP listeners with behaviour (slow, refusing) and helpers shared by the outbox tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.realservers import free_port


class ScriptedSink:
    """aiosmtpd handler: keeps what arrives; ``delay`` seconds before accepting; ``refuse`` maps a recipient
    to an SMTP reply for RCPT TO (e.g. ``"550 5.1.1 no such user"``)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.delay = delay
        self.refuse: dict[str, str] = {}
        self.host, self.port = "127.0.0.1", 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "raw": envelope.content,
                              "msg": email.message_from_bytes(envelope.content, policy=email.policy.default)})
        return "250 Message accepted for delivery"

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        return Counter(m["msg"]["Message-ID"] for m in self.messages)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., ScriptedSink]]:
    """``start(delay=0.0, port=None) -> ScriptedSink``: a real SMTP listener (aiosmtpd) on loopback."""
    from aiosmtpd.controller import Controller

    controllers: list[Any] = []

    def start(delay: float = 0.0, port: int | None = None) -> ScriptedSink:
        sink = ScriptedSink(delay)
        ctl = Controller(sink, hostname="127.0.0.1", port=port or free_port())
        ctl.start()
        controllers.append(ctl)
        sink.host, sink.port = ctl.hostname, ctl.port
        return sink

    yield start
    for ctl in controllers:
        ctl.stop()


def smtp_url(sink: ScriptedSink) -> str:
    """``[mail] url`` of a sink."""
    return f"smtp://{sink.host}:{sink.port}"
