"""The KB home and category pages on the precompiled reads (core.kb.listing): same articles, order, totals
and markup as the ORM listing, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from core.app_state import state
from core.kb.models import KbArticle
from core.kb.service import category_tree, create_category, descendants, list_articles
from tests.kb.helpers import make_article


def _titles(html: str) -> list[str]:
    return re.findall(r'<h3><a href="[^"]+">([^<]+)</a>', html)


def _seed(app: Flask) -> dict[str, Any]:
    """Three nested categories; 45 published articles spread over them, 2 drafts, 5 elsewhere."""
    st = state(app)
    with app.app_context():
        top = create_category(st, "Accounts")
        mid = create_category(st, "Passwords", top.id)
        low = create_category(st, "Two-factor", mid.id)
        other = create_category(st, "Billing")
    homes = (top.id, mid.id, low.id)
    for i in range(45):
        make_article(app, title=f"Article {i:02d}", body=f"<p>Body {i} " + "word " * 60 + "</p>",
                     category_id=homes[i % 3])
    for i in range(2):
        make_article(app, title=f"Draft {i}", published=False, category_id=low.id)
    for i in range(5):
        make_article(app, title=f"Invoice {i}", category_id=other.id)
    return {"top": top.id, "mid": mid.id, "low": low.id, "other": other.id}


def _check(app: Flask) -> None:
    cats = _seed(app)
    st = state(app)
    c = app.test_client()
    home = c.get("/kb").get_data(as_text=True)
    with st.db.session() as s:
        newest, _ = list_articles(s, published_only=True, limit=10, count=False)
    assert _titles(home) == [a.title for a in newest]
    assert '<span class="muted" aria-hidden="true">· · </span>Two-factor' in home  # depth markers
    assert f'href="/kb/category/{cats["low"]}"' in home
    for page in (1, 2, 3, 4):
        html = c.get(f"/kb/category/{cats['top']}?page={page}").get_data(as_text=True)
        with st.db.session() as s:
            ids = descendants(s, cats["top"], category_tree(s))
            expected, total = list_articles(s, published_only=True, category_ids=ids, limit=20,
                                            offset=(page - 1) * 20)
        assert total == 45
        assert _titles(html) == [a.title for a in expected], page
        assert "<h2>45 articles</h2>" in html  # counted, or known from a short page
        assert "Draft" not in html and "Invoice" not in html
    first = c.get(f"/kb/category/{cats['top']}").get_data(as_text=True)
    assert "Page 1 of 3" in first and "Subcategories" in first and "Passwords" in first
    assert "Two-factor</a></li>" not in first.split("Subcategories", 1)[1].split("</ul>", 1)[0]  # children only
    mid = c.get(f"/kb/category/{cats['mid']}").get_data(as_text=True)
    assert "<h2>30 articles</h2>" in mid and f'href="/kb/category/{cats["top"]}">Accounts</a>' in mid
    low = c.get(f"/kb/category/{cats['low']}").get_data(as_text=True)
    assert "<h2>15 articles</h2>" in low and "Page 1 of 1" not in low and "Older" not in low
    article = newest[0]
    assert f'<a href="/kb/{article.id}/{article.slug}">{article.title}</a>' in home
    stamp = article.published_at
    assert f'<time datetime="{stamp.isoformat()}">{stamp.strftime("%d %b %Y")}</time>' in home
    assert c.get("/kb/category/99999").status_code == 404


def test_listing_pages_match_the_orm_listing(plugdesk_app: Flask) -> None:
    _check(plugdesk_app)


@pytest.mark.slow
@pytest.mark.postgres
def test_listing_pages_on_postgresql(plugdesk_app_factory: Any, postgres_url: str) -> None:
    _check(plugdesk_app_factory(["auth_local"], overrides={"database": {"url": postgres_url}}))


def test_teasers_urls_and_changes(plugdesk_app: Flask) -> None:
    """Teaser cut at a word from the stored text, or from the HTML when a row has none; odd slugs are quoted
    as url_for quotes them; a changed article shows at once (the row memo keys on the values)."""
    app, st = plugdesk_app, state(plugdesk_app)
    long = make_article(app, title="Long", body="<p>" + "abcdefghi " * 40 + "</p>")
    bare = make_article(app, title="Bare", body="<p>From <b>HTML</b> only &amp; more</p>")
    odd = make_article(app, title="Odd")
    with st.db.session() as s:
        s.execute(update(KbArticle).where(KbArticle.id == bare.id).values(body_text=""))
        s.execute(update(KbArticle).where(KbArticle.id == odd.id).values(slug="a b/ü"))
    c = app.test_client()
    html = c.get("/kb").get_data(as_text=True)
    assert '<p class="muted">' + ("abcdefghi " * 18).strip() + "…</p>" in html
    assert '<p class="muted">From HTML only &amp; more</p>' in html
    with app.test_request_context("/kb"):
        from flask import url_for

        assert f'href="{url_for("kb.article", article_id=odd.id, slug="a b/ü")}"' in html
    make_article(app, article_id=long.id, title="Renamed", body="<p>New body</p>")
    html = c.get("/kb").get_data(as_text=True)
    assert ">Renamed</a>" in html and ">Long</a>" not in html and "New body" in html
