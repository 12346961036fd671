"""Ticket attachments through the core files service (owner type ``ticket_message``).

This module is the single integration point between tickets and :mod:`core.files`: staging uploads under
the end users' or the agents' upload rules, attaching them inside the message's transaction, listing them,
dropping their references when tickets are deleted, and the download authorization of the owner type.
When :mod:`core.files` is not installed, uploads are refused with a clear message and nothing else changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.types import Role

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.types import UserInfo

OWNER_TYPE = "ticket_message"


class AttachmentRefused(ValueError):
    """An upload broke the upload rules (extension, size, content) or attachments are unavailable."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def files_service() -> Any | None:
    """The :mod:`core.files` package when it is available, else ``None``."""
    try:
        from core.files import service
    except ImportError:
        return None
    return service


def available() -> bool:
    """Tell whether attachments can be stored."""
    return files_service() is not None


@contextmanager
def staged(uploads: Sequence[Any], role: str) -> Iterator[Any | None]:
    """Check, hash and store the uploads *before* the caller's write transaction; yield the batch to attach.

    Yields ``None`` when no file was chosen. ``role`` picks the agents' or the end users' upload rules.
    """
    chosen = [u for u in uploads if getattr(u, "filename", "")]
    if not chosen:
        yield None
        return
    if files_service() is None:
        raise AttachmentRefused("Attachments are not available on this help desk.")
    from core.files.rules import UploadRejected
    from core.files.uploads import stage_uploads
    from core.types import StorageError

    try:
        with stage_uploads(chosen, role) as batch:
            yield batch
    except UploadRejected as exc:
        raise AttachmentRefused(exc.message, exc.status) from None
    except StorageError as exc:  # the reason (endpoint, path) goes to the log only, never to the client
        logging.getLogger("plugdesk.files").error("attachments not stored: %s: %s", exc.__class__.__name__, exc)
        raise AttachmentRefused("File storage is not answering; nothing was saved. Please try again in a minute.",
                                503) from None


def attach(session: Session, batch: Any | None, message_id: int) -> None:
    """Reference the staged files from a message inside the caller's transaction."""
    if batch:
        batch.attach(session, OWNER_TYPE, message_id)


def attachments_of(session: Session, message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Attachments per message id, in the API shape (``id``, ``filename``, ``size``, ``content_type``, ``sha256``)."""
    if files_service() is None or not message_ids:
        return {}
    from core.files.models import Attachment
    from core.files.uploads import attachment_json

    out: dict[int, list[dict[str, Any]]] = {}
    rows = session.scalars(select(Attachment).where(Attachment.owner_type == OWNER_TYPE,
                                                    Attachment.owner_id.in_(list(message_ids)))
                           .order_by(Attachment.id))
    for a in rows:
        out.setdefault(int(a.owner_id), []).append(attachment_json(a))
    return out


def drop_for_tickets(state: AppState | None, session: Session, ticket_ids: Sequence[int]) -> int:
    """Drop the attachment references of every message of the given tickets in the caller's transaction."""
    if files_service() is None or not ticket_ids:
        return 0
    from core.files.models import Attachment
    from core.files.service import file_service
    from core.tickets.models import TicketMessage
    from core.types import StorageError

    message_ids = list(session.scalars(select(TicketMessage.id).where(TicketMessage.ticket_id.in_(list(ticket_ids)))))
    if not message_ids:
        return 0
    if state is None:
        raise RuntimeError("deleting tickets with attachments needs the app state (core.tickets.info.events_for)")
    try:
        service = file_service(state)
    except StorageError:
        has_any = session.scalar(select(exists().where(Attachment.owner_type == OWNER_TYPE,
                                                       Attachment.owner_id.in_(message_ids))))
        if has_any:
            raise
        return 0
    return service.detach_owners(session, OWNER_TYPE, message_ids)


def can_read_message(user: UserInfo | None, message_id: int) -> bool:
    """Download check: the ticket's customer (not for internal notes) or staff of its department."""
    if user is None:
        return False
    from core.app_state import state
    from core.auth.sessions import ROLE_RANK
    from core.tickets.models import DepartmentAgent, Ticket, TicketMessage

    with state().db.session() as s:
        row = s.execute(select(TicketMessage.internal, Ticket.customer_id, Ticket.department_id)
                        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
                        .where(TicketMessage.id == message_id)).first()
        if row is None:
            return False
        rank = ROLE_RANK.get(user.role, -1)
        if rank >= Role.MANAGER.rank:
            return True
        if rank >= Role.AGENT.rank and s.scalar(select(exists().where(
                DepartmentAgent.user_id == user.id, DepartmentAgent.department_id == row.department_id))):
            return True
        return not row.internal and row.customer_id == user.id


def register_owner() -> None:
    """Register the ``ticket_message`` owner type with the files service (idempotent)."""
    if files_service() is None:
        return
    from core.files.owners import register_owner_type

    register_owner_type(OWNER_TYPE, can_read_message, "Attachments of ticket messages (customers and agents)")
