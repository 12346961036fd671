"""Full-text search of KB articles behind one interface: SQLite FTS5 or PostgreSQL full-text.

:func:`backend_for` picks the implementation from the database dialect. Both index title and body text,
rank by relevance and only ever see what the caller may read (``published_only``).

The SQLite FTS5 table is not a model (a virtual table and its shadow tables are no business of Alembic's
autogenerate): it is created on first use and filled from ``kb_articles`` then. PostgreSQL needs no
extra table: it matches ``to_tsvector`` of the stored columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select, func, literal_column, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from core.kb.models import KbArticle

FTS_TABLE = "kb_articles_fts"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class SearchPage:
    """Matching article ids in rank order (one page) and the number of matches."""

    ids: list[int]
    total: int


class SearchBackend(Protocol):
    """What the KB needs from a full-text engine."""

    def index(self, session: Session, article: KbArticle) -> None:
        """(Re)index one article in the caller's transaction."""

    def remove(self, session: Session, article_id: int) -> None:
        """Drop one article from the index."""

    def search(self, session: Session, query: str, *, published_only: bool = True, limit: int = 20,
               offset: int = 0) -> SearchPage:
        """Articles matching every word of ``query`` (prefixes match), best first."""


def words(query: str) -> list[str]:
    """The searchable words of a user's query (operators and punctuation are ignored)."""
    return _WORD.findall(query.lower())[:20]


class SqliteFts(SearchBackend):
    """SQLite FTS5 (``unicode61`` tokenizer, diacritics folded)."""

    def __init__(self) -> None:
        self.ready = False

    def _ensure(self, session: Session) -> None:
        if self.ready:
            return
        exists = session.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": FTS_TABLE}).first()
        if not exists:
            session.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, body, "
                                 "tokenize = 'unicode61 remove_diacritics 2')"))
            session.execute(text(f"INSERT INTO {FTS_TABLE}(rowid, title, body) "
                                 "SELECT id, title, body_text FROM kb_articles"))
        self.ready = True

    def index(self, session: Session, article: KbArticle) -> None:
        self._ensure(session)
        session.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": article.id})
        session.execute(text(f"INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (:id, :t, :b)"),
                        {"id": article.id, "t": article.title, "b": article.body_text})

    def remove(self, session: Session, article_id: int) -> None:
        self._ensure(session)
        session.execute(text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": article_id})

    def search(self, session: Session, query: str, *, published_only: bool = True, limit: int = 20,
               offset: int = 0) -> SearchPage:
        terms = words(query)
        if not terms:
            return SearchPage([], 0)
        self._ensure(session)
        match = " ".join('"' + t.replace('"', '""') + '"*' for t in terms)
        where = "kb_articles_fts MATCH :q" + (" AND a.published = 1" if published_only else "")
        base = f"FROM {FTS_TABLE} f JOIN kb_articles a ON a.id = f.rowid WHERE {where}"
        total = session.execute(text(f"SELECT count(*) {base}"), {"q": match}).scalar_one()
        rows = session.execute(text(f"SELECT a.id {base} ORDER BY bm25({FTS_TABLE}, 5.0, 1.0), a.id DESC "
                                    "LIMIT :limit OFFSET :offset"),
                               {"q": match, "limit": limit, "offset": offset})
        return SearchPage([r[0] for r in rows], int(total))


class PostgresFts(SearchBackend):
    """PostgreSQL ``to_tsvector``/``websearch_to_tsquery`` with the language-neutral ``simple`` config."""

    def index(self, session: Session, article: KbArticle) -> None:
        """Nothing to do: the match runs on the stored columns."""

    def remove(self, session: Session, article_id: int) -> None:
        """Nothing to do."""

    def search(self, session: Session, query: str, *, published_only: bool = True, limit: int = 20,
               offset: int = 0) -> SearchPage:
        terms = words(query)
        if not terms:
            return SearchPage([], 0)
        config: ColumnClause[Any] = literal_column("'simple'::regconfig")
        vector = (func.setweight(func.to_tsvector(config, KbArticle.title), literal_column("'A'"))
                  .op("||")(func.to_tsvector(config, KbArticle.body_text)))
        tsquery = func.to_tsquery(config, " & ".join(f"{t}:*" for t in terms))
        stmt: Select = select(KbArticle.id).where(vector.op("@@")(tsquery))
        return _page(session, stmt, published_only, (func.ts_rank(vector, tsquery).desc(), KbArticle.id.desc()),
                     limit, offset)


class LikeSearch(SearchBackend):
    """Fallback for other databases: every word must appear in the title or body (case-insensitive)."""

    def index(self, session: Session, article: KbArticle) -> None:
        """Nothing to do."""

    def remove(self, session: Session, article_id: int) -> None:
        """Nothing to do."""

    def search(self, session: Session, query: str, *, published_only: bool = True, limit: int = 20,
               offset: int = 0) -> SearchPage:
        terms = words(query)
        if not terms:
            return SearchPage([], 0)
        stmt: Select = select(KbArticle.id)
        for t in terms:
            stmt = stmt.where(or_(KbArticle.title.ilike(f"%{t}%"), KbArticle.body_text.ilike(f"%{t}%")))
        return _page(session, stmt, published_only, (KbArticle.id.desc(),), limit, offset)


def _page(session: Session, stmt: Select, published_only: bool, order: tuple[Any, ...], limit: int,
          offset: int) -> SearchPage:
    """Count the matches of ``stmt`` and return one page of article ids in ``order``."""
    if published_only:
        stmt = stmt.where(KbArticle.published.is_(True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ids = session.scalars(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return SearchPage(list(ids), int(total))


def backend_for(dialect: str) -> SearchBackend:
    """The search implementation for a SQLAlchemy dialect name."""
    if dialect == "sqlite":
        return SqliteFts()
    if dialect == "postgresql":
        return PostgresFts()
    return LikeSearch()
