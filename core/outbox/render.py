"""Send-time rendering: what a row becomes just before it is handed to the mail server.

``mail`` rows carry their final text. Rows of other kinds carry only a ``payload`` and are rendered here by
the function registered for the kind, which may issue a single-use token then (so the raw token lives only
in the sent message, never in the database) or decide that nothing is to be sent (an unknown account asked
for a reset: the row is deleted).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.outbox.models import OutboxMessage

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState


@dataclass(frozen=True)
class Rendered:
    """A message ready to build: recipient, subject, plain text and (optionally) hand-made HTML."""

    to: str
    subject: str
    text: str
    to_name: str = ""
    html: str | None = None


#: kind -> "module:function" taking ``(state, payload)`` and returning :class:`Rendered` or ``None`` (drop).
RENDERERS: dict[str, str] = {
    "password_reset": "core.auth.reset:render_reset_mail",
    "verify_email": "core.auth.verification:render_verification_mail",
}


def renderer(kind: str) -> Callable[[AppState, Any], Rendered | None]:
    """The function registered for ``kind`` (``LookupError`` for an unknown kind)."""
    target = RENDERERS.get(kind)
    if target is None:
        raise LookupError(f"no renderer for outbox kind {kind!r}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def render(state: AppState, row: OutboxMessage) -> Rendered | None:
    """The message ``row`` stands for, or ``None`` when there is nothing to send any more."""
    if row.kind == "mail":
        return Rendered(to=row.to_addr, subject=row.subject, text=row.text_body, to_name=row.to_name,
                        html=row.html_body)
    return renderer(row.kind)(state, row.payload or {})
