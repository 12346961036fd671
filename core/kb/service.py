"""KB operations shared by the portal, the management pages, the API and the CLI.

Every write sanitizes the body, keeps the search index in step and invalidates this node's feed cache;
other nodes notice through :func:`kb_stamp` within a few seconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.app_state import AppState
from core.kb.markdown import MAX_SOURCE, render_markdown
from core.kb.models import KbArticle, KbCategory, KbFeedback
from core.kb.sanitize import html_to_text, sanitize_html
from core.kb.search import SearchBackend, backend_for
from core.models import utcnow
from core.types import Role

MAX_TITLE = 300


class KbError(ValueError):
    """A refused KB change; ``field`` names the form/API field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class KbRuntime:
    """Per-app KB helpers kept in ``state.extras["kb"]`` (no module-level state)."""

    search: SearchBackend
    feed_cache: dict[Any, Any] = field(default_factory=dict)
    page_cache: dict[Any, Any] = field(default_factory=dict)
    body_cache: dict[Any, Any] = field(default_factory=dict)
    listing_cache: dict[Any, Any] = field(default_factory=dict)  # shaped listing rows (core.kb.listing.listed)

    def invalidate(self) -> None:
        """Forget cached feeds and pages (called after every local write)."""
        self.feed_cache.clear()
        self.page_cache.clear()


def runtime(st: AppState) -> KbRuntime:
    """The app's :class:`KbRuntime`."""
    rt = st.extras.get("kb")
    if rt is None:
        rt = st.extras["kb"] = KbRuntime(search=backend_for(st.db.engine.dialect.name))
    return rt


def slugify(title: str) -> str:
    """A URL slug: ASCII letters, digits and dashes (``"article"`` when nothing is left)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80] or "article"


def whole_seconds(when: datetime) -> datetime:
    """``when`` without microseconds (RSS dates have second precision; round trips stay equal)."""
    return when.replace(microsecond=0)


def kb_stamp(session: Session) -> tuple[Any, ...]:
    """A cheap value that changes whenever any article or category changes (count, newest update, ids)."""
    row = session.execute(select(func.count(KbArticle.id), func.max(KbArticle.updated_at),
                                 func.max(KbArticle.id))).one()
    cats = session.execute(select(func.count(KbCategory.id), func.max(KbCategory.id))).one()
    return (*tuple(row), *tuple(cats))


# --------------------------------------------------------------------------- categories
def create_category(st: AppState, name: str, parent_id: int | None = None) -> KbCategory:
    """Add a category (``parent_id`` nests it)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise KbError("name", "Give the category a name (at most 200 characters).")
    with st.db.session() as s:
        if parent_id is not None and s.get(KbCategory, parent_id) is None:
            raise KbError("parent_id", "That parent category does not exist.")
        cat = KbCategory(name=name, slug=slugify(name), parent_id=parent_id)
        s.add(cat)
        s.flush()
    runtime(st).invalidate()
    return cat


def find_or_create_category(st: AppState, name: str) -> KbCategory:
    """The top-level-or-any category called ``name`` (case-insensitive), created when missing."""
    with st.db.session() as s:
        cat = s.scalars(select(KbCategory).where(func.lower(KbCategory.name) == name.strip().lower())).first()
    return cat or create_category(st, name)


def delete_category(st: AppState, category_id: int) -> bool:
    """Delete a category; its articles and children move up (``SET NULL``)."""
    with st.db.session() as s:
        cat = s.get(KbCategory, category_id)
        if cat is None:
            return False
        for child in s.scalars(select(KbCategory).where(KbCategory.parent_id == category_id)):
            child.parent_id = cat.parent_id
        for art in s.scalars(select(KbArticle).where(KbArticle.category_id == category_id)):
            art.category_id = cat.parent_id
            art.updated_at = utcnow()
        s.delete(cat)
    runtime(st).invalidate()
    return True


def category_tree(session: Session) -> list[tuple[KbCategory, int]]:
    """Every category with its depth, parents before children, siblings by position then name."""
    return ordered_tree(session.scalars(select(KbCategory).order_by(KbCategory.position, KbCategory.name)))


def ordered_tree(cats: Iterable[Any]) -> list[tuple[Any, int]]:
    """``cats`` (anything with ``id`` and ``parent_id``, in sibling order) as ``(category, depth)``, parents
    before children; a category whose parent is missing counts as top-level."""
    cats = list(cats)
    children: dict[int | None, list[Any]] = {}
    ids = {c.id for c in cats}
    for c in cats:
        children.setdefault(c.parent_id if c.parent_id in ids else None, []).append(c)
    out: list[tuple[Any, int]] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for c in children.get(parent, []):
            if c.id not in seen:
                seen.add(c.id)
                out.append((c, depth))
                walk(c.id, depth + 1)

    walk(None, 0)
    return out


def descendants(session: Session, category_id: int,
                tree: list[tuple[KbCategory, int]] | None = None) -> set[int]:
    """``category_id`` and every category below it (``tree``: :func:`category_tree`, when already read)."""
    tree = category_tree(session) if tree is None else tree
    parents = {c.id: c.parent_id for c, _ in tree}
    out = {category_id}
    changed = True
    while changed:
        changed = False
        for cid, parent in parents.items():
            if parent in out and cid not in out:
                out.add(cid)
                changed = True
    return out


# --------------------------------------------------------------------------- articles
def save_article(st: AppState, *, article_id: int | None = None, title: str, body_html: str,
                 category_id: int | None = None, published: bool = False, author_id: int | None = None,
                 published_at: datetime | None = None, source_guid: str | None = None,
                 session: Session | None = None, body_markdown: str | None = None, source_feed: str = "",
                 source_url: str | None = None) -> KbArticle:
    """Create (``article_id=None``) or update an article; the body is sanitized here.

    ``body_markdown`` makes it a Markdown article (``body_html`` is then rendered from it); otherwise
    ``body_html`` is the body, and a Markdown article whose rendered HTML comes back unchanged (an API
    ``PATCH`` of the title) stays Markdown. ``published_at`` is set on first publication (or taken as given,
    e.g. from an import). ``updated_at`` only moves when something changed.
    """
    title = (title or "").strip()
    if not title:
        raise KbError("title", "Give the article a title.")
    if len(title) > MAX_TITLE:
        raise KbError("title", f"The title is longer than {MAX_TITLE} characters.")
    if session is None:
        with st.db.session() as s:
            article = save_article(st, article_id=article_id, title=title, body_html=body_html,
                                   category_id=category_id, published=published, author_id=author_id,
                                   published_at=published_at, source_guid=source_guid, session=s,
                                   body_markdown=body_markdown, source_feed=source_feed, source_url=source_url)
        runtime(st).invalidate()
        return article
    s = session
    if category_id is not None and s.get(KbCategory, category_id) is None:
        raise KbError("category_id", "That category does not exist.")
    now = utcnow()
    if article_id is None:
        article = KbArticle(created_at=now, author_id=author_id, source_guid=source_guid, source_feed=source_feed,
                            body_format="html", body_source="")
        s.add(article)
        before = None
    else:
        found = s.get(KbArticle, article_id)
        if found is None:
            raise KbError("id", "No such article.")
        article = found
        before = _snapshot(article)
    if body_markdown is not None:
        body_format, source = "markdown", body_markdown[:MAX_SOURCE]
        safe = render_markdown(source)
    else:
        safe = sanitize_html(body_html)
        keep = article.body_format == "markdown" and safe == article.body_html
        body_format, source = ("markdown", article.body_source) if keep else ("html", "")
    article.title, article.slug, article.body_html = title, slugify(title), safe
    article.body_format, article.body_source = body_format, source
    article.body_text = html_to_text(safe)
    article.category_id = category_id
    if source_url is not None:
        article.source_url = source_url[:2000] or None
    if published_at is not None:
        article.published_at = whole_seconds(published_at)
    elif published and article.published_at is None:
        article.published_at = whole_seconds(now)
    article.published = published
    if before is None or before != _snapshot(article):
        article.updated_at = now
        s.flush()
        runtime(st).search.index(s, article)
    return article


def _snapshot(article: KbArticle) -> tuple[Any, ...]:
    """What a save may change (``updated_at`` moves only when this does)."""
    return (article.title, article.body_html, article.body_format, article.body_source, article.category_id,
            article.published, article.published_at, article.source_url)


def set_published(st: AppState, article_id: int, published: bool) -> KbArticle | None:
    """Publish or unpublish; the first publication sets ``published_at``."""
    with st.db.session() as s:
        article = s.get(KbArticle, article_id)
        if article is None:
            return None
        article.published = published
        if published and article.published_at is None:
            article.published_at = whole_seconds(utcnow())
        article.updated_at = utcnow()
    runtime(st).invalidate()
    return article


def drop_file_references(st: AppState, owner_type: str, owner_id: int, session: Session) -> int:
    """INTEGRATION POINT with ``core.files``: drop every file reference of one owner in ``session``.

    Returns how many references were dropped (0 while ``core.files`` offers no owner-reference API).
    """
    try:
        from core.files import drop_owner_references  # type: ignore[attr-defined]
    except ImportError:
        return 0
    return int(drop_owner_references(st, owner_type, owner_id, session=session) or 0)


def delete_article(st: AppState, article_id: int) -> bool:
    """Delete an article, its feedback, its search entry and its file references (one transaction)."""
    with st.db.session() as s:
        article = s.get(KbArticle, article_id)
        if article is None:
            return False
        drop_file_references(st, "kb_article", article_id, s)
        for fb in s.scalars(select(KbFeedback).where(KbFeedback.article_id == article_id)):
            s.delete(fb)
        runtime(st).search.remove(s, article_id)
        s.delete(article)
    runtime(st).invalidate()
    return True


def can_edit(user: Any) -> bool:
    """Agents and above write the KB."""
    return user is not None and user.role in Role.at_least(Role.AGENT)


def visible_article(session: Session, article_id: int, user: Any) -> KbArticle | None:
    """The article if ``user`` (``None`` = anonymous) may read it: published, or any for KB editors."""
    article = session.get(KbArticle, article_id)
    if article is None or (not article.published and not can_edit(user)):
        return None
    return article


def list_articles(session: Session, *, published_only: bool = True, category_ids: set[int] | None = None,
                  limit: int = 25, offset: int = 0, count: bool = True) -> tuple[list[KbArticle], int]:
    """Newest first (by publication, then creation); returns one page and the total (``-1`` with ``count=False``).

    Published articles always have ``published_at``, so the public listing orders by the indexed column
    alone and reads only one page, however many articles there are.
    """
    conds = []
    if published_only:
        conds.append(KbArticle.published.is_(True))
    if category_ids is not None:
        conds.append(KbArticle.category_id.in_(category_ids))
    stmt = select(KbArticle).where(*conds)
    # a plain count over the table (not over a subquery of every column): cheaper to build and to run
    total = (session.scalar(select(func.count(KbArticle.id)).where(*conds)) or 0) if count else -1
    order = ((KbArticle.published_at.desc(), KbArticle.id.desc()) if published_only else
             (KbArticle.published_at.desc().nulls_last(), KbArticle.created_at.desc(), KbArticle.id.desc()))
    items = list(session.scalars(stmt.order_by(*order).limit(limit).offset(offset)))
    return items, int(total)


def iso(when: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``."""
    return when.isoformat().replace("+00:00", "Z") if when else None


def article_url(st: AppState, article: KbArticle) -> str:
    """The absolute URL of an article's portal page (``server.base_url``)."""
    base = st.settings.get("server", "base_url").rstrip("/")
    return f"{base}/kb/{article.id}/{article.slug}"


def article_json(st: AppState, article: KbArticle) -> dict[str, Any]:
    """The API shape of an article (CONTRACT.md plus extra fields)."""
    return {"id": article.id, "title": article.title, "slug": article.slug,
            "body_html": sanitize_html(article.body_html), "published": article.published,
            "published_at": iso(article.published_at), "created_at": iso(article.created_at),
            "updated_at": iso(article.updated_at), "category_id": article.category_id,
            "author_id": article.author_id, "url": article_url(st, article)}
