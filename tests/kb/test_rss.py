"""The RSS 2.0 feeds: structure, order, limits, visibility, escaping, conditional GETs and caching."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta

import feedparser
from defusedxml.ElementTree import fromstring

from core.app_state import state
from core.kb import rss
from core.kb.service import create_category, set_published
from tests.kb.helpers import make_article

ATOM = "{http://www.w3.org/2005/Atom}"


def assert_valid_rss20(xml: bytes) -> list:
    """The RSS 2.0 rules (rssboard.org spec) a validator checks, item by item; returns the items."""
    root = fromstring(xml)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channels = root.findall("channel")
    assert len(channels) == 1
    ch = channels[0]
    for required in ("title", "link", "description"):
        assert len(ch.findall(required)) == 1 and ch.findtext(required).strip(), required
    assert ch.findtext("link").startswith(("http://", "https://"))
    self_links = ch.findall(f"{ATOM}link")
    assert len(self_links) == 1 and self_links[0].get("rel") == "self"
    assert self_links[0].get("type") == "application/rss+xml"
    assert self_links[0].get("href").startswith("http")
    assert ch.findtext("generator")
    for tag in ("pubDate", "lastBuildDate"):
        if ch.find(tag) is not None:
            assert email.utils.parsedate_to_datetime(ch.findtext(tag)).tzinfo is not None
    items = ch.findall("item")
    for item in items:
        assert item.findtext("title") or item.findtext("description")
        assert item.findtext("link").startswith("http")
        assert email.utils.parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
        assert item.findtext("pubDate").endswith("GMT")
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false" and guid.text.startswith("kbarticle")
    parsed = feedparser.parse(xml)
    assert parsed.version == "rss20" and not parsed.bozo
    return items


def test_feed_is_valid_rss20_newest_first_published_only(plugdesk_app):
    old = make_article(plugdesk_app, title="Old & trusted <tips>",
                       body='<p>Use <a href="https://example.com">this</a></p><script>x()</script>',
                       published_at=datetime(2020, 5, 17, 8, 30, tzinfo=UTC))
    new = make_article(plugdesk_app, title="Brand new")
    make_article(plugdesk_app, title="Draft only", published=False)
    r = plugdesk_app.test_client().get("/rss/kb/newest")
    assert r.status_code == 200 and r.mimetype == "application/rss+xml"
    items = assert_valid_rss20(r.data)
    root = fromstring(r.data)
    assert root.find("channel").findtext("title") == "Newest KB Articles"
    assert [i.findtext("title") for i in items] == ["Brand new", "Old & trusted <tips>"]
    assert items[0].findtext("guid") == f"kbarticle{new.id}"
    assert items[1].findtext("link") == f"http://127.0.0.1:8080/kb/{old.id}/old-trusted-tips"
    assert items[1].findtext("pubDate") == "Sun, 17 May 2020 08:30:00 GMT"
    description = items[1].findtext("description")
    assert description.startswith("<p>Use <a href=\"https://example.com\"") and "<script" not in description
    assert b"&lt;p&gt;Use" in r.data  # HTML travels escaped
    assert root.find("channel").find(f"{ATOM}link").get("href") == "http://127.0.0.1:8080/rss/kb/newest"


def test_limit_default_max_and_junk(plugdesk_app):
    for i in range(105):
        make_article(plugdesk_app, title=f"Article {i}", published_at=datetime(2024, 1, 1, tzinfo=UTC)
                     + timedelta(hours=i))
    c = plugdesk_app.test_client()

    def count(q: str) -> int:
        return len(fromstring(c.get(f"/rss/kb/newest{q}").data).find("channel").findall("item"))

    assert count("") == 25
    assert count("?limit=3") == 3
    assert count("?limit=1000") == 100
    assert count("?limit=0") == 1
    assert count("?limit=abc") == 25
    first = fromstring(c.get("/rss/kb/newest?limit=1").data).find("channel").find("item").findtext("title")
    assert first == "Article 104"


def test_conditional_get_and_cache_invalidation(plugdesk_app):
    article = make_article(plugdesk_app, title="First")
    c = plugdesk_app.test_client()
    r = c.get("/rss/kb/newest")
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert "max-age" in r.headers["Cache-Control"]
    assert c.get("/rss/kb/newest", headers={"If-None-Match": etag}).status_code == 304
    assert c.get("/rss/kb/newest", headers={"If-Modified-Since": modified}).status_code == 304
    assert c.get("/rss/kb/newest", headers={"If-None-Match": '"other"'}).status_code == 200
    set_published(state(plugdesk_app), article.id, False)  # a local write invalidates at once
    r2 = c.get("/rss/kb/newest", headers={"If-None-Match": etag})
    assert r2.status_code == 200 and r2.headers["ETag"] != etag and b"First" not in r2.data


def test_changes_from_another_node_are_noticed_within_seconds(plugdesk_app, monkeypatch):
    make_article(plugdesk_app, title="Seen")
    c = plugdesk_app.test_client()
    etag = c.get("/rss/kb/newest").headers["ETag"]
    from sqlalchemy import update

    from core.kb.models import KbArticle

    with state(plugdesk_app).db.session() as s:  # as another node would: no local invalidation
        s.execute(update(KbArticle).values(title="Renamed", updated_at=datetime.now(UTC) + timedelta(seconds=1)))
    assert c.get("/rss/kb/newest", headers={"If-None-Match": etag}).status_code == 304  # still cached
    monkeypatch.setattr(rss, "RECHECK_SECONDS", 0.0)
    time.sleep(0.01)
    r = c.get("/rss/kb/newest", headers={"If-None-Match": etag})
    assert r.status_code == 200 and b"Renamed" in r.data


def test_category_feed_includes_subcategories(plugdesk_app):
    st = state(plugdesk_app)
    top = create_category(st, "Billing")
    sub = create_category(st, "Invoices", top.id)
    other = create_category(st, "Other")
    make_article(plugdesk_app, title="In top", category_id=top.id)
    make_article(plugdesk_app, title="In sub", category_id=sub.id)
    make_article(plugdesk_app, title="Elsewhere", category_id=other.id)
    c = plugdesk_app.test_client()
    r = c.get(f"/rss/kb/category/{top.id}")
    items = assert_valid_rss20(r.data)
    assert sorted(i.findtext("title") for i in items) == ["In sub", "In top"]
    assert fromstring(r.data).find("channel").findtext("title") == "Newest KB Articles: Billing"
    assert c.get("/rss/kb/category/999").status_code == 404


def test_control_characters_in_title_or_body_never_break_the_feed(plugdesk_app, monkeypatch):
    from sqlalchemy import update

    from core.kb.models import KbArticle

    article = make_article(plugdesk_app, title="Printer", body="<p>fine</p>")
    with state(plugdesk_app).db.session() as s:  # as data imported or written elsewhere could hold them
        s.execute(update(KbArticle).where(KbArticle.id == article.id).values(
            title="Bell\x07 and\x00 escape\x1b[0m\x7f\ufffe title", body_html="<p>tab\tform\x0cfeed\x85</p>",
            updated_at=datetime.now(UTC) + timedelta(seconds=1)))
    monkeypatch.setattr(rss, "RECHECK_SECONDS", 0.0)
    r = plugdesk_app.test_client().get("/rss/kb/newest")
    items = assert_valid_rss20(r.data)  # parses strictly: any control character would be a syntax error
    assert items[0].findtext("title") == "Bell and escape[0m title"
    assert items[0].findtext("description") == "<p>tab\tformfeed</p>"


def test_xml_text_keeps_whitespace_and_unicode():
    assert rss.xml_text("a\tb\nc\rd é 漢字 🙂") == "a\tb\nc\rd é 漢字 🙂"
    assert rss.xml_text("".join(map(chr, range(32)))) == "\t\n\r"
