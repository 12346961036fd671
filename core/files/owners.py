"""Owner types: who may download an attachment is decided by the code that owns it.

Tickets, KB articles and community posts each register one owner type at import time::

    from core.files.owners import register_owner_type

    def can_read_message(user: UserInfo, owner_id: int) -> bool:
        ...  # the requester of the ticket, or staff of its department

    register_owner_type("ticket_message", can_read_message)

Downloads of an attachment whose owner type is not registered are refused (fail closed), and so are
downloads where ``can_read`` raises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.types import UserInfo

log = logging.getLogger("plugdesk.files")
_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")

CanRead = Callable[[UserInfo | None, int], bool]  # user is None for anonymous readers


@dataclass(frozen=True)
class OwnerType:
    """A registered owner type: its name (stored in ``attachments.owner_type``) and its read check."""

    name: str
    can_read: CanRead
    description: str = ""


_REGISTRY: dict[str, OwnerType] = {}


def register_owner_type(name: str, can_read: CanRead, description: str = "") -> OwnerType:
    """Register (or replace) an owner type.

    :param name: lower-case identifier, e.g. ``"ticket_message"``, ``"kb_article"``, ``"community_post"``.
    :param can_read: ``can_read(user, owner_id) -> bool``; ``user`` is ``None`` for anonymous readers; called
        for every download, must be cheap and must not raise for unknown ids (return ``False``).
    :param description: shown on the storage page.
    """
    if not _NAME.match(name):
        raise ValueError(f"owner type {name!r}: use lower-case letters, digits, '_' or '.', at most 64")
    owner = OwnerType(name, can_read, description)
    _REGISTRY[name] = owner
    return owner


def unregister_owner_type(name: str) -> None:
    """Remove an owner type (tests and plugins that unload)."""
    _REGISTRY.pop(name, None)


def owner_types() -> dict[str, OwnerType]:
    """Every registered owner type by name."""
    return dict(_REGISTRY)


def can_read(user: UserInfo | None, owner_type: str, owner_id: int) -> bool:
    """Tell whether ``user`` (``None`` = anonymous) may read attachments of ``(owner_type, owner_id)``.

    Fails closed. Owner types decide about anonymous readers (a published KB article's images are public,
    a ticket's attachments never are).
    """
    if user is not None and not user.is_active:
        return False
    owner = _REGISTRY.get(owner_type)
    if owner is None:
        log.warning("download refused: owner type %r is not registered", owner_type)
        return False
    try:
        return bool(owner.can_read(user, owner_id))
    except Exception:
        log.exception("owner type %r: can_read failed; download refused", owner_type)
        return False
