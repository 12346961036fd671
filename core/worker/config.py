"""The ``[worker]`` table of ``plugdesk.toml`` (merged into :data:`core.settings.SCHEMA`)."""

from __future__ import annotations

from typing import Any


def worker_schema(field: Any) -> dict[str, dict[str, Any]]:
    """The section this package adds to the static configuration.

    :param field: the :class:`core.settings.Field` class (passed in to avoid a circular import).
    """
    return {
        "worker": {
            "embedded": field("bool", True, "`plugdesk serve` runs one background worker process (mail outbox and "
                              "periodic jobs). Set false when `plugdesk worker` runs elsewhere."),
            "poll_ms": field("int", 1000, "How often an idle worker looks for due mail, in milliseconds.",
                             minimum=50, maximum=60_000),
            "batch_size": field("int", 50, "Messages a worker claims at once.", minimum=1, maximum=1000),
            "retry_base_seconds": field("int", 60, "First retry delay after a temporary failure; it doubles "
                                        "(with jitter) on every further failure.", minimum=1, maximum=86_400),
            "retry_max_delay_minutes": field("int", 360, "Longest delay between two attempts.", minimum=1,
                                             maximum=10_080),
            "give_up_hours": field("int", 48, "A message still undelivered this long after it was queued is "
                                   "marked failed.", minimum=1, maximum=24 * 30),
            "smtp_timeout_seconds": field("int", 30, "Timeout of each SMTP operation.", minimum=1, maximum=600),
            "gc_interval_minutes": field("int", 1440, "Storage gc by the worker's scheduler every N minutes "
                                         "(0 = off; use cron with `plugdesk storage gc`).", minimum=0,
                                         maximum=10_080),
            "keep_sent_days": field("int", 30, "Sent and discarded messages are deleted after this many days.",
                                    minimum=1, maximum=3650),
        },
    }
