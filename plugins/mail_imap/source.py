"""An IMAP mailbox as a :class:`core.MailSource`, on IMAPClient.

Uids are ``UIDVALIDITY:UID``, so a mailbox that was recreated (new UIDVALIDITY) never maps an old uid to a
new message. Every network or protocol failure becomes :class:`core.MailSourceUnavailable` and drops the
connection; the next ``fetch`` reconnects (core spaces the attempts out with a growing delay).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from core import DiagnosticStep, InboundMessage, MailSource, MailSourceUnavailable
from plugins.mail_imap.config import Mailbox

NETWORK_ERRORS = (OSError, ssl.SSLError, socket.timeout, IMAPClientError, EOFError)
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
#: UIDs per acknowledging command (keeps command lines short).
ACK_CHUNK = 200


def tls_context(box: Mailbox, base: Path | None) -> ssl.SSLContext:
    """Certificate checks on (system CAs, or ``ca_file``), unless ``tls_verify = false``."""
    context = ssl.create_default_context(cafile=str(box.ca_path(base)) if box.ca_file else None)
    if not box.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(box: Mailbox, base: Path | None) -> IMAPClient:
    """A logged-in client (TLS or STARTTLS as configured). Raises the library's errors."""
    context = tls_context(box, base)
    client = IMAPClient(box.host, port=box.real_port(), ssl=box.security == "tls", ssl_context=context,
                        timeout=box.timeout_seconds)
    try:
        if box.security == "starttls":
            client.starttls(context)
        client.login(box.username, box.password)
    except BaseException:
        _logout(client)
        raise
    return client


def _logout(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


class ImapSource(MailSource):
    """One configured mailbox."""

    def __init__(self, box: Mailbox, base: Path | None = None, log: logging.Logger | None = None) -> None:
        self.box = box
        self.base = base
        self.name = box.name
        self.department = box.department
        self.address = box.address.lower()
        self.accept_from = box.accept_from
        self.poll_seconds = box.poll_seconds
        self.log = log or logging.getLogger("plugdesk.plugins.mail_imap")
        self._client: IMAPClient | None = None
        self._validity = 0

    # ------------------------------------------------------------------ connection
    def _open(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        try:
            client = connect(self.box, self.base)
            if self.box.ack == "move" and not client.folder_exists(self.box.move_to):
                client.create_folder(self.box.move_to)
            info = client.select_folder(self.box.folder)
        except NETWORK_ERRORS as exc:
            raise MailSourceUnavailable(f"{self.box.host}:{self.box.real_port()}: {_describe(exc)}") from exc
        self._validity = int(info.get(b"UIDVALIDITY", 0))
        self._client = client
        return client

    def close(self) -> None:
        """Log out (or drop the socket)."""
        client, self._client = self._client, None
        _logout(client)

    def _fail(self, exc: BaseException) -> MailSourceUnavailable:
        self.close()
        return MailSourceUnavailable(f"{self.box.host}:{self.box.real_port()}: {_describe(exc)}")

    # ------------------------------------------------------------------ the contract
    def fetch(self, limit: int, max_bytes: int) -> Iterator[InboundMessage]:
        """Unacknowledged messages, oldest first; larger than ``max_bytes``: headers only (``truncated``)."""
        fresh = self._client is None
        client = self._open()
        try:
            if not fresh:
                client.noop()  # a reused connection learns about new mail before it searches
            criteria: list[Any] = ["UNDELETED"] + (["UNSEEN"] if self.box.ack == "seen" else [])
            uids = sorted(client.search(criteria))[:limit]
        except NETWORK_ERRORS as exc:
            raise self._fail(exc) from exc
        for start in range(0, len(uids), self.box.fetch_chunk):
            chunk = uids[start:start + self.box.fetch_chunk]
            try:
                sizes = {u: int(d.get(b"RFC822.SIZE", 0)) for u, d in client.fetch(chunk, ["RFC822.SIZE"]).items()}
                small = [u for u in chunk if sizes.get(u, 0) <= max_bytes]
                large = [u for u in chunk if u not in small]
                data = dict(client.fetch(small, ["BODY.PEEK[]"])) if small else {}
                heads = dict(client.fetch(large, ["BODY.PEEK[HEADER]"])) if large else {}
            except NETWORK_ERRORS as exc:
                raise self._fail(exc) from exc
            for uid in chunk:
                if uid in data:
                    raw = data[uid].get(b"BODY[]") or b""
                    yield InboundMessage(uid=f"{self._validity}:{uid}", raw=raw, size=len(raw))
                elif uid in heads:
                    raw = heads[uid].get(b"BODY[HEADER]") or b""
                    yield InboundMessage(uid=f"{self._validity}:{uid}", raw=raw, size=sizes.get(uid, 0),
                                         truncated=True)

    def ack(self, uid: str) -> None:
        """Flag seen, delete (and expunge) or move the message, per ``ack``; idempotent."""
        self.ack_many([uid])

    def ack_many(self, uids: list[str]) -> None:
        """Acknowledge several messages with one command per action (``STORE``, ``MOVE``, ``EXPUNGE``)."""
        parts = [uid.partition(":") for uid in uids]
        numbered = [(validity, int(number)) for validity, _, number in parts if number.isdigit()]
        if not numbered:
            return
        client = self._open()
        # A uid of an earlier UIDVALIDITY: the mailbox was recreated, that message is gone already.
        msgs = sorted({number for validity, number in numbered if validity == str(self._validity)})
        if not msgs:
            return
        for start in range(0, len(msgs), ACK_CHUNK):
            self._ack(client, msgs[start:start + ACK_CHUNK])

    def _ack(self, client: IMAPClient, msgs: list[int]) -> None:
        try:
            if self.box.ack == "seen":
                client.add_flags(msgs, [SEEN], silent=True)
            elif self.box.ack == "move":
                if client.has_capability("MOVE"):
                    client.move(msgs, self.box.move_to)
                else:
                    client.copy(msgs, self.box.move_to)
                    self._delete(client, msgs)
            else:
                self._delete(client, msgs)
        except NETWORK_ERRORS as exc:
            raise self._fail(exc) from exc

    @staticmethod
    def _delete(client: IMAPClient, msgs: list[int]) -> None:
        client.add_flags(msgs, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(msgs)
        else:
            client.expunge()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message} (set ca_file to your CA)"
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:300]


def diagnose(box: Mailbox, base: Path | None) -> list[DiagnosticStep]:
    """Connect (TLS/STARTTLS), log in, open the folder; each step with its outcome, never the password."""
    prefix = f"{box.name}: "
    where = f"{box.host}:{box.real_port()} security={box.security} verify={'on' if box.tls_verify else 'OFF'} " \
            f"ca_file={box.ca_file or '(system)'} user={box.username} folder={box.folder}"
    steps = [DiagnosticStep(prefix + "config", True, where)]
    started = time.monotonic()
    try:
        client = connect(box, base)
    except NETWORK_ERRORS as exc:
        return [*steps, DiagnosticStep(prefix + "connect and log in", False, _describe(exc))]
    ms = int((time.monotonic() - started) * 1000)
    steps.append(DiagnosticStep(prefix + "connect and log in", True, f"logged in as {box.username} in {ms} ms"))
    try:
        info = client.select_folder(box.folder, readonly=True)
        steps.append(DiagnosticStep(prefix + f"open {box.folder}", True,
                                    f"{int(info.get(b'EXISTS', 0))} messages, UIDVALIDITY "
                                    f"{int(info.get(b'UIDVALIDITY', 0))}"))
    except NETWORK_ERRORS as exc:
        steps.append(DiagnosticStep(prefix + f"open {box.folder}", False, _describe(exc)))
    finally:
        _logout(client)
    return steps
