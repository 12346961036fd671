"""KB and community files through ``core.files`` (deduplicated blobs, reference counts, download checks).

Owner types: ``kb_article`` (readable when the article is published, or by KB editors) and
``community_post`` (readable by whoever may see the post). Deleting an article or a post, or rejecting a
post, drops its references (:func:`core.kb.service.drop_file_references`); the blobs go when ``storage gc``
finds them unreferenced.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.app_state import AppState, state
from core.db_reads import Read, Reader
from core.types import Role, UserInfo

try:
    from core.files.rules import UploadRejected
except ImportError:  # pragma: no cover - core.files absent: nothing can be rejected
    class UploadRejected(Exception):  # type: ignore[no-redef]
        """Stand-in so callers can always catch the same name."""

        message = ""

KB_OWNER = "kb_article"
POST_OWNER = "community_post"
STAFF = Role.at_least(Role.AGENT)


def _can_read_article(user: UserInfo | None, owner_id: int) -> bool:
    from core.kb.models import KbArticle

    with state().db.session() as s:
        article = s.get(KbArticle, owner_id)
        return article is not None and (article.published or (user is not None and user.role in STAFF))


def _can_read_post(user: UserInfo | None, owner_id: int) -> bool:
    from core.community.models import CommunityPost
    from core.community.service import can_see

    with state().db.session() as s:
        post = s.get(CommunityPost, owner_id)
        return post is not None and can_see(post, user)


def register_owner_types() -> bool:
    """Register both owner types with ``core.files``; ``False`` when ``core.files`` is not available."""
    try:
        from core.files.owners import register_owner_type
    except ImportError:
        return False
    register_owner_type(KB_OWNER, _can_read_article, "KB article images and attachments")
    register_owner_type(POST_OWNER, _can_read_post, "community post files")
    return True


def available(st: AppState) -> bool:
    """Whether uploads can be stored (``core.files`` present and a storage backend enabled)."""
    try:
        import core.files.uploads  # noqa: F401
    except ImportError:
        return False
    return st.storage is not None


def save_files(request: Request, owner_type: str, owner_id: int, role: str) -> list[Any]:
    """Store the request's ``files`` field for one owner; raises ``core.files.rules.UploadRejected``."""
    from core.files.uploads import save_uploads

    return save_uploads(request, owner_type, owner_id, role)


@functools.cache
def _files_read() -> Read | None:
    """The precompiled read of one owner's attachments (``None`` without ``core.files``)."""
    try:
        from core.files.models import Attachment
    except ImportError:
        return None
    return Read(select(Attachment.id, Attachment.filename, Attachment.size)
                .where(Attachment.owner_type == bindparam("owner_type"), Attachment.owner_id == bindparam("owner_id"))
                .order_by(Attachment.id))


def file_rows(reader: Reader, owner_type: str, owner_id: int) -> list[Any]:
    """The attachments of one owner as rows (``id``, ``filename``, ``size``), oldest first, through the
    page's :class:`~core.db_reads.Reader` (empty without ``core.files``)."""
    read = _files_read()
    return [] if read is None else reader.all(read, owner_type=owner_type, owner_id=owner_id)


def list_files(st: AppState, owner_type: str, owner_id: int, session: Session | None = None) -> list[Any]:
    """The attachments of one owner, oldest first (empty without ``core.files``); in ``session`` when given
    (a page that already has one saves a database session)."""
    try:
        from core.files.models import Attachment
    except ImportError:
        return []
    stmt = select(Attachment).where(Attachment.owner_type == owner_type,
                                    Attachment.owner_id == owner_id).order_by(Attachment.id)
    if session is not None:
        return list(session.scalars(stmt))
    with st.db.session() as s:
        return list(s.scalars(stmt))
