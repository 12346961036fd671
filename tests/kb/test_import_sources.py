"""RSS import: the item's <link> is kept, relative image and link addresses become absolute, a re-import of
an unchanged item keeps ``updated_at``, and articles are keyed by (source feed, guid)."""

from __future__ import annotations

from sqlalchemy import select

from core.app_state import state
from core.kb.importer import absolutize, import_feed
from core.kb.models import KbArticle

RELATIVE = ("&lt;p&gt;See &lt;img src=&quot;/kb/images/p.png&quot; alt=&quot;Printer&quot;&gt; and "
            "&lt;img src=&quot;shots/2.png&quot; alt=&quot;Dialog&quot;&gt; or "
            "&lt;a href=&quot;../faq.aspx&quot;&gt;the FAQ&lt;/a&gt; "
            "&lt;a href=&quot;#top&quot;&gt;top&lt;/a&gt;&lt;/p&gt;")


def feed(portal: str, guid: str = "kbarticle1", body: str = "", self_link: bool = False) -> bytes:
    atom = (f'<atom:link href="{portal}rss/kb/newest" rel="self" type="application/rss+xml"/>'
            if self_link else "")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Newest KB Articles</title><link>{portal}</link><description>KB</description>{atom}
<item><title>Printing</title><link>{portal}kb/a1/printing.aspx</link>
<pubDate>Tue, 03 Mar 2015 14:05:09 GMT</pubDate><guid isPermaLink="false">{guid}</guid>
<description>{body or RELATIVE}</description></item>
</channel></rss>""".encode()


def articles(app):
    with state(app).db.session() as s:
        return list(s.scalars(select(KbArticle).order_by(KbArticle.id)))


def test_link_kept_and_relative_addresses_made_absolute(plugdesk_app):
    import_feed(state(plugdesk_app), feed("https://portal.example.com/"), source="st.xml")
    (art,) = articles(plugdesk_app)
    assert art.source_url == "https://portal.example.com/kb/a1/printing.aspx"
    assert art.source_feed == "https://portal.example.com/" and art.source_guid == "kbarticle1"
    # images on the source host become links to them (the CSP loads images from this site only)
    assert '<a href="https://portal.example.com/kb/images/p.png"' in art.body_html
    assert '<a href="https://portal.example.com/kb/a1/shots/2.png"' in art.body_html
    assert '<a href="https://portal.example.com/kb/faq.aspx"' in art.body_html and 'href="#top"' in art.body_html
    assert 'src="/kb' not in art.body_html and 'src="shots' not in art.body_html


def test_unchanged_reimport_keeps_updated_at(plugdesk_app):
    st = state(plugdesk_app)
    import_feed(st, feed("https://portal.example.com/"))
    before = articles(plugdesk_app)[0].updated_at
    report = import_feed(st, feed("https://portal.example.com/"))
    assert (report.updated, report.unchanged) == (1, 1)
    assert articles(plugdesk_app)[0].updated_at == before
    import_feed(st, feed("https://portal.example.com/", body="&lt;p&gt;New text&lt;/p&gt;"))
    assert articles(plugdesk_app)[0].updated_at > before


def test_two_feeds_with_the_same_guids_never_overwrite_each_other(plugdesk_app):
    st = state(plugdesk_app)
    a = import_feed(st, feed("https://one.example.com/", self_link=True, body="&lt;p&gt;one&lt;/p&gt;"))
    b = import_feed(st, feed("https://two.example.com/", body="&lt;p&gt;two&lt;/p&gt;"))
    assert (a.created, b.created) == (1, 1)
    rows = articles(plugdesk_app)
    assert [(r.source_feed, r.source_guid, r.body_html) for r in rows] == [
        ("https://one.example.com/rss/kb/newest", "kbarticle1", "<p>one</p>"),
        ("https://two.example.com/", "kbarticle1", "<p>two</p>")]
    again = import_feed(st, feed("https://two.example.com/", body="&lt;p&gt;two!&lt;/p&gt;"))
    assert (again.created, again.updated) == (0, 1) and len(articles(plugdesk_app)) == 2


def test_articles_imported_before_feeds_were_told_apart_are_adopted(plugdesk_app):
    from core.kb.service import save_article

    st = state(plugdesk_app)
    legacy = save_article(st, title="Printing", body_html="<p>old</p>", published=True, source_guid="kbarticle1")
    report = import_feed(st, feed("https://portal.example.com/"))
    assert (report.created, report.updated) == (0, 1)
    (art,) = articles(plugdesk_app)
    assert art.id == legacy.id and art.source_feed == "https://portal.example.com/"


def test_absolutize_leaves_absolute_and_unsafe_bases_alone():
    html = '<a href="mailto:x@y.org">m</a><img src="https://cdn.example/i.png" alt="">'
    assert absolutize(html, "https://portal.example.com/") == html
    assert absolutize('<img src="a.png" alt="">', "") == '<img src="a.png" alt="">'
