"""The portal's KB listings (the KB home, category pages, search results) on the lean read path.

The pages everyone sees read through precompiled statements (:mod:`core.db_reads`) and select only what a
listing shows: a teaser needs at most ``TEASER + 1`` characters of the article's text, and the HTML body only
for rows stored without text (SQL imports). A category page reads the articles of the whole subtree with a
recursive CTE (one fixed statement whatever the depth) and skips the count when the page is not full.

Rows are shaped here, once, into what the templates print (URL, teaser, dates), so the per-row template work
is unpacking a tuple: no attribute lookup, ``url_for``, filter or ``strftime`` per article. Shaped rows are
memoised per app by their values (:func:`listed`), so an unchanged listing is not shaped again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from flask import current_app, url_for
from markupsafe import Markup
from sqlalchemy import bindparam, case, func, null, select

from core.db_reads import Read, Reader
from core.kb.models import KbArticle, KbCategory
from core.kb.sanitize import cut_text, html_to_text, sanitize_html
from core.web.fastpaths import url_prefix

TEASER = 180  # characters of plain text under each listed title
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")  # a path segment URL building leaves as it is
MEMO_ENTRIES = 2048  # shaped rows kept per app (a few hundred bytes each)

_A = KbArticle
#: What a listed article shows; the labels match the model's attributes, so ORM rows shape the same way.
COLUMNS = (_A.id, _A.title, _A.slug, _A.published, _A.published_at,
           func.substr(_A.body_text, 1, TEASER + 1).label("body_text"),
           case((_A.body_text == "", _A.body_html), else_=null()).label("body_html"))
_NEWEST_FIRST = (_A.published_at.desc(), _A.id.desc())  # published articles always have published_at

CATEGORIES = Read(select(KbCategory.id, KbCategory.parent_id, KbCategory.name)
                  .order_by(KbCategory.position, KbCategory.name))
NEWEST = Read(select(*COLUMNS).where(_A.published.is_(True)).order_by(*_NEWEST_FIRST)
              .limit(bindparam("limit")))

_subtree = (select(KbCategory.id).where(KbCategory.id == bindparam("category"))
            .cte("subtree", recursive=True))
_subtree = _subtree.union(select(KbCategory.id).join(_subtree, KbCategory.parent_id == _subtree.c.id))
_IN_SUBTREE = (_A.published.is_(True), _A.category_id.in_(select(_subtree.c.id)))
IN_CATEGORY = Read(select(*COLUMNS).where(*_IN_SUBTREE).order_by(*_NEWEST_FIRST)
                   .limit(bindparam("limit")).offset(bindparam("offset")))
COUNT_IN_CATEGORY = Read(select(func.count(_A.id).label("n")).where(*_IN_SUBTREE))


class Listed(NamedTuple):
    """One article as a listing prints it."""

    url: str
    title: str
    draft: bool
    teaser: str
    iso: str  # publication time, ISO 8601 ("" when unpublished)
    date: str  # publication day as shown ("02 Jan 2025")


class CategoryLink(NamedTuple):
    """One category in a list of links (``indent``: the depth marker the home page shows)."""

    id: int
    url: str
    name: str
    depth: int
    indent: str


def _href(prefix: str | None) -> Callable[[int, str], str]:
    """``href(id, slug)``: an article's URL as ``url_for('kb.article', ...)`` builds it, by concatenation."""
    def href(article_id: int, slug: str) -> str:
        if prefix is not None and _PLAIN.fullmatch(slug or ""):
            return f"{prefix}{article_id}/{slug}"
        return url_for("kb.article", article_id=article_id, slug=slug)

    return href


def category_links(tree: Iterable[tuple[Any, int]]) -> list[CategoryLink]:
    """``(category, depth)`` pairs as links to their pages."""
    tree = list(tree)
    if not tree:
        return []
    prefix = url_prefix("kb.category", category_id=0)
    return [CategoryLink(c.id, f"{prefix}{c.id}" if prefix is not None else url_for("kb.category", category_id=c.id),
                         c.name, depth, "· " * depth) for c, depth in tree]


def _shape(a: Any, href: Callable[[int, str], str]) -> Listed:
    text = a.body_text or html_to_text(sanitize_html(a.body_html or ""))
    when = a.published_at
    return Listed(href(a.id, a.slug), a.title, not a.published, cut_text(text, TEASER),
                  when.isoformat() if when else "", when.strftime("%d %b %Y") if when else "")


def listed(rows: Iterable[Any], memo: dict[Any, Listed] | None = None) -> list[Listed]:
    """Article rows (read with :data:`COLUMNS`, or ORM articles) as listings print them.

    ``memo`` (the app's :attr:`KbRuntime.listing_cache`) keeps shaped rows keyed by the URL prefix and the
    row's values, which are everything a :class:`Listed` depends on: a page showing the same articles as the
    previous request shapes nothing again. Only tuple rows (the precompiled reads') are memoised.
    """
    prefix = url_prefix("kb.article", article_id=0, slug="_")
    href = _href(prefix)
    if memo is None or prefix is None:
        return [_shape(a, href) for a in rows]
    if len(memo) > MEMO_ENTRIES:
        memo.clear()
    out = []
    for a in rows:
        if not isinstance(a, tuple):
            out.append(_shape(a, href))
            continue
        key = (prefix, a)
        found = memo.get(key)
        if found is None:
            found = memo[key] = _shape(a, href)
        out.append(found)
    return out


class CategoryPage(NamedTuple):
    """What a category page shows."""

    category: Any  # id, parent_id, name
    parent: Any | None
    children: list[CategoryLink]
    articles: list[Listed]
    total: int


def category_page(r: Reader, category_id: int, page_size: int, offset: int,
                  memo: dict[Any, Listed] | None = None) -> CategoryPage | None:
    """One page of a category (articles of its whole subtree, newest first), ``None`` when it does not exist.

    Reads one more row than the page holds: when the page is not full, the total is known without counting.
    ``memo``: see :func:`listed`.
    """
    cats: Sequence[Any] = r.all(CATEGORIES)
    by_id = {c.id: c for c in cats}
    cat = by_id.get(category_id)
    if cat is None:
        return None
    rows = r.all(IN_CATEGORY, category=category_id, limit=page_size + 1, offset=offset)
    if len(rows) > page_size or (not rows and offset):
        total = int(r.scalar(COUNT_IN_CATEGORY, category=category_id) or 0)
    else:
        total = offset + len(rows)
    children = category_links((c, 1) for c in cats if c.parent_id == category_id)
    return CategoryPage(cat, by_id.get(cat.parent_id), children, listed(rows[:page_size], memo), total)


#: Rendered article lists kept (see :func:`rows_html`).
ROWS_HTML_ENTRIES = 512
_rows_html: dict[tuple[Any, ...], Markup] = {}


def rows_html(articles: Sequence[Listed], empty: str) -> Markup:
    """The HTML of an article list (``kb/_rows.html``), rendered once per distinct list and replayed: a
    :class:`Listed` row holds everything its HTML shows (URL with the script root, title, teaser, dates), so
    the same rows always give the same HTML, and a KB page reprints the same twenty rows request after request
    (the per-row escaping and loop was a third of the category page)."""
    key: tuple[Any, ...] = (id(current_app.jinja_env), tuple(articles), empty)
    try:
        found = _rows_html.get(key)
    except TypeError:  # rows with unhashable values (ORM-shaped): render every time
        found, key = None, ()
    if found is None:
        found = Markup(current_app.jinja_env.get_template("kb/_rows.html").render(articles=articles, empty=empty))
        if key:
            if len(_rows_html) >= ROWS_HTML_ENTRIES:
                _rows_html.clear()
            _rows_html[key] = found
    return found

