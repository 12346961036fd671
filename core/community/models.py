"""Community tables: categories and posts (threads and replies share one table and one id space)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow
from core.types import PostStatus

STATUSES: tuple[str, ...] = tuple(s.value for s in PostStatus)


class CommunityCategory(Base):
    """An optional grouping of threads."""

    __tablename__ = "community_categories"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (SQLite AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class CommunityPost(Base):
    """A thread (``kind="thread"``, has a title) or a reply (``kind="reply"``, has ``thread_id``).

    ``reasons`` keeps every moderation plugin's reason as ``[[plugin, reason], ...]``;
    ``moderator_message`` is what a moderator told the author when approving or rejecting.
    """

    __tablename__ = "community_posts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("community_posts.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("community_categories.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                  index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=PostStatus.PUBLISHED.value, index=True)
    reasons: Mapped[Any] = mapped_column(JSON, nullable=True)
    moderator_message: Mapped[str] = mapped_column(Text, default="")
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
