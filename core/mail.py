"""Outgoing mail through ``[mail] url``: SMTP (STARTTLS/TLS, auth) or ``.eml`` files in DATA_DIR/outbox."""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("plugdesk.mail")


class MailError(RuntimeError):
    """The message could not be handed to the mail server."""


class Mailer:
    """Sends plain-text messages. Never logs message bodies (they may hold tokens)."""

    def __init__(self, url: str, sender: str, outbox: Path, timeout: float = 10.0) -> None:
        self.url = url
        self.sender = sender
        self.outbox = outbox
        self.timeout = timeout

    def build(self, to: str, subject: str, body: str) -> EmailMessage:
        """Build the message (headers set, body as UTF-8 text)."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1] or "localhost")
        msg.set_content(body)
        return msg

    def send(self, to: str, subject: str, body: str) -> None:
        """Send one message; raise :class:`MailError` with the reason when the server refuses it."""
        msg = self.build(to, subject, body)
        if not self.url:
            self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.outbox / f"{uuid.uuid4().hex}.eml"
            path.write_bytes(bytes(msg))
            log.info("mail to %s written to %s", to, path)
            return
        parts = urlsplit(self.url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        host, port = parts.hostname or "localhost", parts.port
        try:
            if parts.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=self.timeout,
                                                        context=self._tls(query))
            else:
                client = smtplib.SMTP(host, port or 25, timeout=self.timeout)
                if query.get("starttls") in ("1", "true", "yes"):
                    client.starttls(context=self._tls(query))
            with client:
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail to %s failed: %s", to, exc.__class__.__name__)
            raise MailError(f"mail server {host}:{port} refused or unreachable: {exc}") from None
        log.info("mail to %s sent via %s:%s", to, host, port)

    @staticmethod
    def _tls(query: dict[str, str]) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=query.get("cafile") or None)
