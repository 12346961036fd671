"""Full-text search: one interface, SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import pytest

from core.app_state import state
from core.kb.search import PostgresFts, SqliteFts
from core.kb.service import delete_article, runtime, save_article
from tests.kb.helpers import make_article


def search(app, q, published_only=True):
    st = state(app)
    with st.db.session() as s:
        return runtime(st).search.search(s, q, published_only=published_only)


def check_search_behaviour(app):
    a = make_article(app, title="Configure the VPN client", body="<p>Install the <b>OpenVPN</b> profile.</p>")
    b = make_article(app, title="Printer troubleshooting", body="<p>If the VPN is down, printing fails.</p>")
    make_article(app, title="VPN draft", body="<p>secret</p>", published=False)
    hits = search(app, "vpn")
    assert hits.total == 2 and hits.ids[0] == a.id and set(hits.ids) == {a.id, b.id}  # title ranks first
    assert search(app, "openv").ids == [a.id]  # prefixes match
    assert search(app, "printing vpn").ids == [b.id]  # every word must match
    assert search(app, "vpn", published_only=False).total == 3
    for hostile in ['"', "vpn OR *", "NEAR(", "'; DROP TABLE kb_articles; --", "AND", "%", "   ", "title:vpn"]:
        search(app, hostile)  # never an error
    assert search(app, "").total == 0
    save_article(state(app), article_id=b.id, title="Printer troubleshooting", body_html="<p>Paper jam</p>",
                 published=True)
    assert search(app, "vpn").ids == [a.id] and search(app, "jam").ids == [b.id]
    delete_article(state(app), a.id)
    assert search(app, "vpn").total == 0


def test_sqlite_fts5(plugdesk_app):
    assert isinstance(runtime(state(plugdesk_app)).search, SqliteFts)
    check_search_behaviour(plugdesk_app)


def test_fts_table_is_built_from_existing_rows_on_first_use(plugdesk_app):
    from sqlalchemy import text

    make_article(plugdesk_app, title="Existing before the index")
    st = state(plugdesk_app)
    with st.db.session() as s:
        s.execute(text("DROP TABLE kb_articles_fts"))
    st.extras.pop("kb")
    assert search(plugdesk_app, "existing").total == 1


def test_portal_search_page(plugdesk_app):
    make_article(plugdesk_app, title="Export invoices", body="<p>Use the <em>Billing</em> tab.</p>")
    c = plugdesk_app.test_client()
    page = c.get("/kb/search?q=billing").get_data(as_text=True)
    assert "1 result for “billing”" in page and "Export invoices" in page
    assert "0 results" in c.get("/kb/search?q=nothingmatches").get_data(as_text=True)
    assert c.get("/kb/search?q=%22%27%3C").status_code == 200


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_full_text(plugdesk_app_factory, postgres_url):
    app = plugdesk_app_factory(["auth_local"], overrides={"database": {"url": postgres_url}})
    assert isinstance(runtime(state(app)).search, PostgresFts)
    check_search_behaviour(app)
