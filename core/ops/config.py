"""The ``[metrics]`` and ``[backup]`` tables of ``plugdesk.toml`` (merged into :data:`core.settings.SCHEMA`)."""

from __future__ import annotations

from typing import Any


def ops_schema(field: Any) -> dict[str, dict[str, Any]]:
    """The sections this package adds to the static configuration.

    :param field: the :class:`core.settings.Field` class (passed in to avoid a circular import).
    """
    return {
        "metrics": {
            "enabled": field("bool", True, "Serve Prometheus metrics at GET /metrics."),
            "token": field("str", "", "Bearer token a scraper sends (Authorization: Bearer ...); an admin's API "
                           "token always works too. Use { \"$file\" = ... }.", secret=True),
            "allow_from": field("list", [], "Client addresses or CIDR ranges that may read /metrics without a "
                                "token (after [server] trusted_proxies). Empty: token or admin only."),
            "bind": field("str", "", "Extra private listener of `plugdesk serve` for scrapers, e.g. "
                          "\"127.0.0.1:9464\" (no token there: keep it off the public network). Empty: off."),
        },
        "backup": {
            "dir": field("str", "backups", "Where scheduled backups go (relative to data_dir)."),
            "interval_hours": field("int", 0, "Scheduled backup every N hours by the background scheduler "
                                    "(0 = off; use cron with `plugdesk backup create`).", minimum=0, maximum=24 * 31),
            "keep": field("int", 7, "Scheduled backups to keep; older ones are deleted.", minimum=1, maximum=1000),
            "blobs": field("str", "include", "Scheduled backups: include blob bytes, or skip them (a manifest "
                           "only, for stores backed up by the provider, e.g. versioned S3).",
                           choices=("include", "skip")),
        },
    }
