"""Hand messages to ``[mail] url``: SMTP (one connection reused for a batch; STARTTLS/TLS, auth) or ``.eml``
files in DATA_DIR/outbox. Failures are classified: a 5xx answer to this message is permanent, everything
else (4xx, refused connection, timeout, TLS or login trouble) is temporary and retried.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("plugdesk.outbox")


class DeliveryError(Exception):
    """The message was not accepted. ``permanent``: retrying cannot help (a 5xx answer to it)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:1000]
        self.permanent = permanent


class Transport(Protocol):
    """Something that delivers one message at a time and may keep a connection between messages."""

    def send(self, msg: bytes, sender: str, recipient: str, smtputf8: bool = False) -> None:
        """Deliver ``msg`` (the message as built by :func:`core.outbox.compose.build_message`); raise
        :class:`DeliveryError`. ``smtputf8``: the envelope or headers need SMTPUTF8 (RFC 6531)."""

    def close(self) -> None:
        """Release any connection."""


def _reply_text(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"


class SmtpTransport:
    """SMTP per ``smtp://[user:pass@]host[:port][?starttls=1&cafile=...]`` or ``smtps://...``."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.username = unquote(parts.username) if parts.username else ""
        self.password = unquote(parts.password or "")
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.timeout = timeout
        self._client: smtplib.SMTP | None = None

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.query.get("cafile") or None)

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                        context=self._tls())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.query.get("starttls") in ("1", "true", "yes"):
                    client.starttls(context=self._tls())
            if self.username:
                client.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:  # greeting/TLS/login refused: configuration, retry
            raise DeliveryError(f"mail server {self.host}:{self.port} refused the session: "
                                f"{_reply_text(exc.smtp_code, exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"mail server {self.host}:{self.port} unreachable: "
                                f"{exc.__class__.__name__}: {exc}") from None
        return client

    def send(self, msg: bytes, sender: str, recipient: str, smtputf8: bool = False) -> None:
        """Send over the open connection (opened on first use; reopened once if the server dropped it)."""
        fresh = self._client is None
        if self._client is None:
            self._client = self._connect()
        try:
            self._send(self._client, msg, sender, recipient, smtputf8)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if fresh:
                raise DeliveryError(f"mail server {self.host}:{self.port} closed the connection") from None
            self._client = self._connect()  # an idle connection the server had closed: one more go
            try:
                self._send(self._client, msg, sender, recipient, smtputf8)
            except smtplib.SMTPServerDisconnected:
                self.close()
                raise DeliveryError(f"mail server {self.host}:{self.port} closed the connection") from None

    def _send(self, client: smtplib.SMTP, msg: bytes, sender: str, recipient: str, smtputf8: bool) -> None:
        options: list[str] = []
        if smtputf8:
            client.ehlo_or_helo_if_needed()
            if not client.has_extn("smtputf8"):
                raise DeliveryError("the mail server does not offer SMTPUTF8, which this recipient address needs",
                                    permanent=True)
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            client.sendmail(sender, [recipient], msg, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, resp = next(iter(exc.recipients.values()), (450, b"recipient refused"))
            self._reset(client)
            raise DeliveryError(f"recipient refused: {_reply_text(code, resp)}", permanent=code >= 500) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPResponseException as exc:  # MAIL FROM / DATA answered with an error
            self._reset(client)
            raise DeliveryError(f"message refused: {_reply_text(exc.smtp_code, exc.smtp_error)}",
                                permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:  # e.g. SMTPUTF8 needed but not offered
            self._reset(client)
            raise DeliveryError(f"mail server cannot take this message: {exc}", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise DeliveryError(f"sending failed: {exc.__class__.__name__}: {exc}") from None

    def _reset(self, client: smtplib.SMTP) -> None:
        try:
            client.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        """QUIT and drop the connection."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                try:
                    client.close()
                except OSError:
                    pass


class FileTransport:
    """Writes each message to ``DIR/<uuid>.eml`` (the default when ``[mail] url`` is empty)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, msg: bytes, sender: str, recipient: str, smtputf8: bool = False) -> None:
        """Write the message atomically (temp file + rename), readable by the owner only."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = uuid.uuid4().hex
            tmp = self.directory / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg)
            os.replace(tmp, self.directory / f"{name}.eml")
        except OSError as exc:
            raise DeliveryError(f"could not write the message file: {exc}") from None

    def close(self) -> None:
        """Nothing to release."""


def make_transport(url: str, outbox_dir: Path, timeout: float = 30.0) -> Transport:
    """The transport for ``[mail] url`` (empty: files in ``outbox_dir``)."""
    return SmtpTransport(url, timeout) if url else FileTransport(outbox_dir)
