"""What the portal home shows from the knowledge base: top categories with article counts, the newest and
the most helpful articles. A few grouped queries, whatever the number of articles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.kb.models import KbArticle, KbCategory, KbFeedback
from core.kb.service import category_tree, list_articles

LISTED = 5


@dataclass
class CategoryCount:
    """A top-level category and the published articles in it and below it."""

    category: KbCategory
    count: int


@dataclass
class Home:
    """The knowledge base part of the portal home."""

    categories: list[CategoryCount] = field(default_factory=list)
    newest: list[KbArticle] = field(default_factory=list)
    helpful: list[tuple[KbArticle, int]] = field(default_factory=list)
    total: int = 0

    @property
    def empty(self) -> bool:
        """No published article at all (the page then guides instead of listing)."""
        return self.total == 0


def category_counts(session: Session) -> tuple[list[CategoryCount], int]:
    """Top-level categories with the published articles of their whole subtree, and the total."""
    per_category = dict(session.execute(select(KbArticle.category_id, func.count())
                                        .where(KbArticle.published.is_(True))
                                        .group_by(KbArticle.category_id)).all())
    tree = category_tree(session)
    top: dict[int, int] = {}
    parents = {c.id: c.parent_id for c, _ in tree}
    for c, _depth in tree:
        root = c.id
        while parents.get(root) is not None:
            root = parents[root]  # type: ignore[assignment]
        top[root] = top.get(root, 0) + per_category.get(c.id, 0)
    counts = [CategoryCount(c, top.get(c.id, 0)) for c, depth in tree if depth == 0]
    return counts, sum(int(n) for n in per_category.values())


def most_helpful(session: Session, limit: int = LISTED) -> list[tuple[KbArticle, int]]:
    """Published articles with the most "yes" votes (and more yes than no), with their yes count."""
    yes = func.sum(case((KbFeedback.helpful.is_(True), 1), else_=0))
    no = func.sum(case((KbFeedback.helpful.is_(False), 1), else_=0))
    rows = session.execute(select(KbFeedback.article_id, yes.label("yes"))
                           .join(KbArticle, KbArticle.id == KbFeedback.article_id)
                           .where(KbArticle.published.is_(True))
                           .group_by(KbFeedback.article_id).having(yes > no)
                           .order_by(yes.desc(), KbFeedback.article_id.desc()).limit(limit)).all()
    articles = {a.id: a for a in session.scalars(select(KbArticle).where(KbArticle.id.in_([r[0] for r in rows])))}
    return [(articles[r[0]], int(r[1])) for r in rows if r[0] in articles]


def home(st: Any) -> Home:
    """Everything the portal home lists from the KB."""
    with st.db.session() as s:
        categories, total = category_counts(s)
        newest, _ = list_articles(s, published_only=True, limit=LISTED, count=False)
        helpful = most_helpful(s) if total else []
    return Home(categories=categories, newest=newest, helpful=helpful, total=total)
