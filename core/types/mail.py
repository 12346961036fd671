"""Email to ticket: mail sources and the raw messages they fetch (since contract 1.3).

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass


class MailSourceUnavailable(Exception):
    """A mail source cannot reach its server right now (connection refused, timeout, TLS or login failure).

    Core stops polling that source for this round and retries with a growing delay; nothing is lost,
    because nothing is acknowledged until it is committed.
    """


@dataclass(frozen=True)
class InboundMessage:
    """One raw email a :class:`MailSource` fetched. Since contract 1.3.

    Attributes:
        uid: the message's stable id within its source (IMAP: ``UIDVALIDITY:UID``). With the source's name it is
            the key core stores, so a message fetched twice is ingested once; pass it back to ``ack``.
        raw: the complete RFC 5322 bytes as received, or only the header block when ``truncated``.
        size: the full size in bytes as the server reports it (``len(raw)`` when not truncated).
        truncated: the message is larger than the ``max_bytes`` core asked for, so ``raw`` holds only its
            header block; core records a refusal with the reason (no bounce is sent) and acknowledges it.
    """

    uid: str
    raw: bytes
    size: int = 0
    truncated: bool = False


class MailSource(abc.ABC):
    """A mailbox core turns into tickets (``mail_sources``). Since contract 1.3.

    Core polls each source on the background worker, parses every message, opens a ticket or adds a reply,
    commits, and only *then* calls :meth:`ack` (or :meth:`ack_many`). Rules every source follows (checked by
    :class:`core.contracts.mail.MailSourceContract`):

    * ``fetch`` yields messages not acknowledged yet, oldest first, at most ``limit``. It may yield a message
      again after a crash or a reconnect (at least once); core's ingest is idempotent on ``(name, uid)``.
    * ``ack`` is called only after the ticket or reply is committed (or the message was refused and the
      refusal recorded). Acknowledging deletes, moves or flags the message, per the source's configuration;
      acknowledging a uid twice is not an error.
    * Failing to reach the server raises :class:`MailSourceUnavailable` (from ``fetch`` or ``ack``).

    Attributes:
        name: unique across every enabled source; part of the idempotency key, so never rename a source
            that has fetched mail.
        department: the name of the department its new tickets go to.
        address: the mailbox's own address (mail From it is ignored as a loop).
        accept_from: ``"anyone"`` (unknown senders become email-only customers) or ``"registered"`` (mail
            from addresses without an account is refused and recorded).
        poll_seconds: how often core polls it (the worker's scheduler runs the polls).
    """

    name: str = ""
    department: str = ""
    address: str = ""
    accept_from: str = "anyone"
    poll_seconds: int = 60

    @abc.abstractmethod
    def fetch(self, limit: int, max_bytes: int) -> Iterator[InboundMessage]:
        """Yield up to ``limit`` unacknowledged messages, oldest first.

        :param limit: the most messages to yield in this call.
        :param max_bytes: messages larger than this come back ``truncated`` (headers only).
        :raises MailSourceUnavailable: when the server cannot be reached.
        """

    @abc.abstractmethod
    def ack(self, uid: str) -> None:
        """Acknowledge a message core has committed (delete, move or flag it); idempotent.

        :raises MailSourceUnavailable: when the server cannot be reached (core fetches it again later and
            acknowledges it then, without ingesting it twice).
        """

    def ack_many(self, uids: list[str]) -> None:
        """Acknowledge several committed messages at once (core calls it after each committed batch).

        Optional: the default calls :meth:`ack` for each uid. Override it when the server can do it in one
        round trip (IMAP: one ``STORE``/``MOVE`` for a set of UIDs). Same rules as :meth:`ack`.
        """
        for uid in uids:
            self.ack(uid)

    def close(self) -> None:  # noqa: B027 - optional hook with a safe default
        """Release connections (called when the worker stops or after a failure)."""
