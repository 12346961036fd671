"""Email to ticket: mail sources (the ``mail_sources`` hook area) polled on the background worker.

* :mod:`core.inbound.parse` - raw RFC 5322 bytes to a :class:`~core.inbound.parse.ParsedMail` (never raises).
* :mod:`core.inbound.rules` - loops, junk, bounces, sender limits and quoted-history folding.
* :mod:`core.inbound.ingest` - one message into a ticket or a reply, idempotent on ``(source, uid)``.
* :mod:`core.inbound.poll` - the ``mail.fetch`` job: poll every source, ack after commit, back off.

Kept free of imports here: :mod:`core.settings` imports :mod:`core.inbound.config` at startup.
"""
