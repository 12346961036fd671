"""KB tables: nested categories, articles, reader feedback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow


class KbCategory(Base):
    """A KB category; ``parent_id`` nests categories (any depth)."""

    __tablename__ = "kb_categories"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused (they are in URLs and feeds)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"),
                                                  nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class KbArticle(Base):
    """A KB article. ``body_html`` is always stored sanitized; ``body_text`` feeds full-text search.

    ``source_feed`` + ``source_guid`` identify an imported article (the feed, the item's guid as the feed
    gives it): re-imports update, never duplicate, and two feeds using the same guids never collide.
    ``source_url`` is the item's ``<link>``. ``body_format`` is ``html`` or ``markdown``; a Markdown article
    keeps its source in ``body_source`` and ``body_html`` holds the rendered, sanitized HTML.
    """

    __tablename__ = "kb_articles"
    __table_args__ = (UniqueConstraint("source_feed", "source_guid", name="uq_kb_articles_source"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(300))
    slug: Mapped[str] = mapped_column(String(200))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    source_guid: Mapped[str | None] = mapped_column(String(500), nullable=True)
    source_feed: Mapped[str] = mapped_column(String(500), default="", server_default="")
    source_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    body_format: Mapped[str] = mapped_column(String(16), default="html", server_default="html")
    body_source: Mapped[str] = mapped_column(Text, default="", server_default="")


class KbFeedback(Base):
    """One "Was this helpful?" vote. ``voter`` is ``u:<user id>`` or ``b:<sha256 of a browser token>``."""

    __tablename__ = "kb_feedback"
    __table_args__ = (UniqueConstraint("article_id", "voter", name="uq_kb_feedback_voter"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    voter: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
