"""The ``[inbound]`` table of ``plugdesk.toml`` (merged into :data:`core.settings.SCHEMA`): email to ticket."""

from __future__ import annotations

from typing import Any


def inbound_schema(field: Any) -> dict[str, dict[str, Any]]:
    """The section this package adds to the static configuration.

    :param field: the :class:`core.settings.Field` class (passed in to avoid a circular import).
    """
    return {
        "inbound": {
            "max_message_mb": field("int", 25, "Largest email turned into a ticket, in MiB; a larger one is refused "
                                    "and recorded (no bounce is sent).", minimum=1, maximum=1024),
            "max_attachments": field("int", 100, "Attachments stored per email; the rest are noted on the ticket.",
                                     minimum=0, maximum=10_000),
            "batch_size": field("int", 100, "Messages fetched from one source per poll.", minimum=1,
                                maximum=10_000),
            "sender_limit_per_hour": field("int", 20, "New tickets one sender may open by email per hour (stops "
                                           "a looping autoresponder); later mail is filed, not ticketed.",
                                           minimum=1, maximum=100_000),
            "block_senders": field("list", [], "Addresses (alice@example.com) or domains (@example.com) whose "
                                   "mail is filed without a ticket."),
            "keep_days": field("int", 90, "Records of ingested email (and their refusals) are kept this long.",
                               minimum=1, maximum=3650),
        },
    }
