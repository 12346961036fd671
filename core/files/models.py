"""Tables of the file store: ``blobs`` (one per distinct content) and ``attachments`` (one per use)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow

#: A blob row exists, its bytes are being written or were written by an upload not yet attached.
PENDING = "pending"
#: The bytes were stored and at least one upload attached them (they may be unreferenced again now).
STORED = "stored"
#: ``plugdesk storage gc`` claimed the blob; its bytes may already be gone.
DELETING = "deleting"
BLOB_STATES = (PENDING, STORED, DELETING)


class Blob(Base):
    """One stored content, named by its SHA-256.

    ``refcount`` equals the number of ``attachments`` rows pointing here (``fsck`` checks it).
    ``zero_since`` is when it last became (or was staged as) unreferenced; ``gc`` deletes it only after
    the grace period has passed since then.
    """

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    refcount: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    zero_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class Attachment(Base):
    """One use of a blob by an owner (a ticket message, a KB article, a community post, ...).

    ``filename`` is the name as the uploader gave it (cleaned for display, never used as a path);
    ``content_type`` is what core detected from the content and the extension.
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_owner", "owner_type", "owner_id"),
                      {"sqlite_autoincrement": True})  # ids are in download URLs: never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    blob_digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
