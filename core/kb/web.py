"""KB portal pages (browse, read, search, "Was this helpful?") and the RSS feeds."""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import validate_csrf
from markupsafe import Markup
from sqlalchemy import bindparam, select
from wtforms import ValidationError

from core.api.paging import offset_of, page_number
from core.app_state import state
from core.db_reads import Read
from core.kb import attachments, listing
from core.kb import feedback as fb
from core.kb.conditional import revalidate
from core.kb.models import KbArticle, KbCategory, KbFeedback
from core.kb.rss import feed_response
from core.kb.sanitize import cut_text, html_to_text, sanitize_html, summary
from core.kb.service import can_edit, ordered_tree, runtime
from core.web.forms import PostForm
from core.web.helpers import current_user, request_info

bp = Blueprint("kb", __name__)
bp.after_request(revalidate)  # ETag + 304 for every reader (core.kb.conditional)
VOTER_COOKIE = "plugdesk_kbv"
PAGE_SIZE = 20


@bp.app_template_filter("safe_html")
def safe_html(value: str | None) -> Markup:
    """Render stored HTML: sanitized again on the way out (on save *and* on render)."""
    return Markup(sanitize_html(value or ""))


@bp.app_template_filter("summary")
def summary_filter(value: str | None, length: int = 200) -> str:
    """Plain-text teaser of stored HTML."""
    return summary(sanitize_html(value or ""), length)


bp.add_app_template_global(listing.rows_html, "kb_rows")


@bp.app_template_filter("article_summary")
def article_summary(article: Any, length: int = 200) -> str:
    """Plain-text teaser of an article from its stored ``body_text`` (the text of the body sanitized at save
    time), so listing pages parse no HTML per article; rows without one (SQL imports) sanitize the body."""
    text = article.body_text or html_to_text(sanitize_html(article.body_html or ""))
    return cut_text(text, length)


@bp.get("/kb")
def index() -> ResponseReturnValue:
    """Categories and the newest articles (two precompiled reads on one pooled connection)."""
    st = state()
    with st.db.reader() as r:
        cats = r.all(listing.CATEGORIES)
        rows = r.all(listing.NEWEST, limit=10)
    return render_template("kb/index.html", tree=listing.category_links(ordered_tree(cats)),
                           articles=listing.listed(rows, runtime(st).listing_cache))


@bp.get("/kb/category/<int:category_id>")
def category(category_id: int) -> ResponseReturnValue:
    """One category: its subcategories and its articles (including those of subcategories)."""
    page = page_number()
    st = state()
    with st.db.reader() as r:  # two statements; three when the page is full or past the end (SQL budgets)
        found = listing.category_page(r, category_id, PAGE_SIZE, offset_of(page, PAGE_SIZE),
                                      runtime(st).listing_cache)
    if found is None:
        abort(404)
    return render_template("kb/category.html", category=found.category, parent=found.parent,
                           children=found.children, articles=found.articles, total=found.total, page=page,
                           pages=max(1, -(-found.total // PAGE_SIZE)))


@bp.get("/kb/search")
def search() -> ResponseReturnValue:
    """Full-text search of published articles."""
    st = state()
    q = request.args.get("q", "").strip()[:200]
    page = page_number()
    articles: list[Any] = []
    total = 0
    if q:
        with st.db.session() as s:
            hits = runtime(st).search.search(s, q, published_only=True, limit=PAGE_SIZE,
                                             offset=offset_of(page, PAGE_SIZE))
            found = s.execute(select(*listing.COLUMNS).where(KbArticle.id.in_(hits.ids))) if hits.ids else ()
            by_id: dict[int, Any] = {a.id: a for a in found}
            articles = listing.listed(by_id[i] for i in hits.ids if i in by_id)
            total = hits.total
    return render_template("kb/search.html", q=q, articles=articles, total=total, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)))


def _voter(user: Any) -> tuple[str | None, str | None]:
    """(voter key, new cookie token to set) for the current reader."""
    if user is not None:
        return fb.user_voter(user.id), None
    token = request.cookies.get(VOTER_COOKIE, "")
    if 20 <= len(token) <= 100:
        return fb.browser_voter(token), None
    token = secrets.token_urlsafe(32)
    return fb.browser_voter(token), token


_ARTICLE = Read(select(KbArticle.id, KbArticle.title, KbArticle.slug, KbArticle.published, KbArticle.published_at,
                       KbArticle.updated_at, KbArticle.body_html, KbArticle.category_id,
                       KbCategory.name.label("category_name"))
                .outerjoin(KbCategory, KbCategory.id == KbArticle.category_id)
                .where(KbArticle.id == bindparam("id")))
_VOTED = Read(select(KbFeedback.id).where(KbFeedback.article_id == bindparam("id"),
                                          KbFeedback.voter == bindparam("voter")).limit(1))


class _Category(NamedTuple):
    """The article's category, as the breadcrumb shows it."""

    id: int
    name: str


def _article_page(article_id: int, message: str = "", outcome: str = "", status: int = 200,
                  slug: str | None = None) -> Any:
    """Render an article (one pooled connection, precompiled reads); redirect when ``slug`` is given and wrong."""
    st = state()
    user = current_user()
    voter, _new = _voter(user)
    known = user is not None or bool(request.cookies.get(VOTER_COOKIE))
    with st.db.reader() as r:  # at most three statements (the SQL budget in tests/perf)
        article = r.first(_ARTICLE, id=article_id)
        if article is None or (not article.published and not can_edit(user)):  # as visible_article decides
            abort(404)
        if slug is not None and slug != article.slug:
            return redirect(url_for("kb.article", article_id=article_id, slug=article.slug), 301)
        voted = outcome in ("ok", "duplicate") or (known and r.first(_VOTED, id=article_id, voter=voter) is not None)
        files = attachments.file_rows(r, attachments.KB_OWNER, article.id)
    cat = _Category(article.category_id, article.category_name) if article.category_id is not None else None
    body = rendered_body(st, article)
    form = PostForm(formdata=None) if user is not None else None  # no token, no session for anonymous readers
    html = render_template("kb/article.html", article=article, body=body, category=cat, form=form, voted=voted,
                           message=message, outcome=outcome, files=files)
    return html, status


def rendered_body(st: Any, article: Any) -> Markup:
    """The article body sanitized for output, memoised per (article, last update) in the app's KB runtime."""
    cache = runtime(st).body_cache
    key = (article.id, article.updated_at)
    body = cache.get(key)
    if body is None:
        if len(cache) > 2048:
            cache.clear()
        body = cache[key] = Markup(sanitize_html(article.body_html))
    return body


@bp.get("/kb/<int:article_id>")
@bp.get("/kb/<int:article_id>/<slug>")
def article(article_id: int, slug: str | None = None) -> ResponseReturnValue:
    """Read an article (drafts only for KB editors); old or missing slugs redirect to the right one."""
    return _article_page(article_id, slug=slug or "")


@bp.post("/kb/<int:article_id>/feedback")
def feedback(article_id: int) -> ResponseReturnValue:
    """Record a "Was this helpful?" vote (blacklisted addresses get a polite refusal, nothing stored).

    Exempt from the global CSRF check so that anonymous article pages carry no session-bound token and
    can be served from :mod:`core.kb.microcache`; an anonymous vote has no ambient authority (the voter
    cookie is ``SameSite=Lax``), and a logged-in user's vote is checked for its CSRF token here.
    """
    user = current_user()
    if user is not None:  # CSRF-exempt view: only a logged-in user's vote carries ambient authority
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except ValidationError:
            return _article_page(article_id, "Your session expired. Please try again.", "invalid", 400)
    voter, new_token = _voter(user)
    answer = request.form.get("helpful")
    helpful = {"yes": True, "no": False}.get(answer or "")
    outcome = fb.record_feedback(state(), article_id=article_id, voter=voter or "", user=user,
                                 helpful=helpful if helpful is not None else answer,
                                 comment=request.form.get("comment", ""), remote_addr=request_info().remote_addr)
    if outcome.status == "not_found":
        abort(404)
    if not outcome.ok:
        return _article_page(article_id, outcome.message, outcome.status, outcome.http_status)
    flash(outcome.message, "success")
    with state().db.session() as s:
        article = s.get(KbArticle, article_id)
        slug = article.slug if article is not None else ""
    response = make_response(redirect(url_for("kb.article", article_id=article_id, slug=slug) + "#feedback"))
    if new_token:
        response.set_cookie(VOTER_COOKIE, new_token, max_age=5 * 365 * 86400, httponly=True, samesite="Lax",
                            secure=request.scheme == "https")
    return response


@bp.get("/rss/kb/newest")
def rss_newest() -> ResponseReturnValue:
    """RSS 2.0: the newest published articles (``?limit=``, default 25, at most 100)."""
    return feed_response(state(), None)  # type: ignore[return-value]


@bp.get("/rss/kb/category/<int:category_id>")
def rss_category(category_id: int) -> ResponseReturnValue:
    """RSS 2.0: the newest published articles of one category and its subcategories."""
    response = feed_response(state(), category_id)
    if response is None:
        abort(404)
    return response
