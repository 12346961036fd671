"""The mail outbox: every outgoing message is a row written in the transaction of the event that causes it;
the background worker (:mod:`core.worker`) sends it, with retries. Nothing talks SMTP during a request.

Public pieces:

* :class:`OutboxMailer` - ``ctx.mailer``: ``send(to, subject, body, *, html=None, to_name="", ticket_id=None)``.
* :func:`enqueue` / :func:`joining` - for core code that owns the transaction.
* :func:`outbox_counts` - queue depth and failures (metrics, dashboard); :func:`failed_count`.
* :func:`deliver_now` - send what is due in this process (tests, ``plugdesk worker --once``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.outbox.admin import OutboxCounts, failed_count, outbox_counts
from core.outbox.service import OutboxMailer, enqueue, joining

if TYPE_CHECKING:  # pragma: no cover
    from core.outbox.delivery import DrainReport, deliver_now

__all__ = ["DrainReport", "OutboxCounts", "OutboxMailer", "deliver_now", "enqueue", "failed_count", "joining",
           "outbox_counts"]


def __getattr__(name: str) -> Any:
    """``deliver_now`` and ``DrainReport``, imported on first use: sending (SMTP, MIME) is the background
    worker's business, and the web processes never load it (issue 22)."""
    if name in ("deliver_now", "DrainReport"):
        from core.outbox import delivery

        return getattr(delivery, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
