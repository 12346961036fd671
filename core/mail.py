"""The public mail error. Outgoing mail itself lives in :mod:`core.outbox` (queued in the database by
``ctx.mail`` / ``ctx.mailer``, sent by the background worker of :mod:`core.worker`); nothing in a web request
talks to the mail server, so this module no longer holds an SMTP client.
"""

from __future__ import annotations


class MailError(RuntimeError):
    """A message could not be queued (kept as the public name plugins catch around ``ctx.mail.send``)."""
