"""`plugdesk kb import-rss`: SmarterTrack-style feeds, re-imports, bad and hostile feeds, round trips."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.app_state import state
from core.kb.importer import FeedRefused, import_feed
from core.kb.models import KbArticle, KbCategory
from tests.kb.helpers import make_article

SMARTERTRACK = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Newest KB Articles</title><link>https://portal.example.com/</link><description>KB</description>
<item><title>How do I reset my password?</title>
<link>https://portal.example.com/kb/a1234/how-do-i-reset-my-password.aspx</link>
<pubDate>Tue, 03 Mar 2015 14:05:09 GMT</pubDate><guid isPermaLink="false">kbarticle1234</guid>
<description>&lt;p&gt;Click &lt;strong&gt;Forgot password&lt;/strong&gt;.&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;
&lt;img src="http://unreachable.invalid/shot.png" alt="Screenshot" onerror="x()"&gt;</description></item>
<item><title>Configuring email &amp; folders</title>
<link>https://portal.example.com/kb/a1235/configuring.aspx</link>
<pubDate>Wed, 04 Mar 2015 09:00:00 GMT</pubDate><guid isPermaLink="false">kbarticle1235</guid>
<description>&lt;ol&gt;&lt;li&gt;Open settings&lt;/li&gt;&lt;/ol&gt;</description></item>
</channel></rss>"""


def count(app) -> int:
    with state(app).db.session() as s:
        return s.scalar(select(func.count()).select_from(KbArticle))


def test_smartertrack_feed_imports_sanitized_and_reimport_updates(plugdesk_app):
    st = state(plugdesk_app)
    report = import_feed(st, SMARTERTRACK, source="st.xml", category="Imported")
    assert (report.created, report.updated, report.skipped, report.format) == (2, 0, 0, "rss20")
    with st.db.session() as s:
        a = s.scalars(select(KbArticle).where(KbArticle.source_guid == "kbarticle1234")).one()
        assert a.title == "How do I reset my password?" and a.published
        assert a.published_at == datetime(2015, 3, 3, 14, 5, 9, tzinfo=UTC)
        assert "<strong>Forgot password</strong>" in a.body_html
        assert "<script" not in a.body_html and "onerror" not in a.body_html
        assert '<a href="http://unreachable.invalid/shot.png"' in a.body_html and "<img" not in a.body_html
        assert s.get(KbCategory, a.category_id).name == "Imported"
        b = s.scalars(select(KbArticle).where(KbArticle.source_guid == "kbarticle1235")).one()
        assert b.title == "Configuring email & folders"
    again = import_feed(st, SMARTERTRACK.replace(b"Open settings", b"Open the settings"), source="st.xml",
                        category="Imported")
    assert (again.created, again.updated, again.unchanged, again.skipped) == (0, 2, 1, 0)
    assert count(plugdesk_app) == 2
    with st.db.session() as s:
        assert "Open the settings" in s.scalars(select(KbArticle).where(
            KbArticle.source_guid == "kbarticle1235")).one().body_html
        assert s.scalar(select(func.count()).select_from(KbCategory)) == 1


@pytest.mark.parametrize("data, message", [
    (b"this is not xml at all", "not well-formed XML"),
    (b"<html><body><p>Hello</p></body></html>", "not an RSS or Atom feed"),
    (b"", "not well-formed XML"),
    (b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>", "not well-formed XML"),
])
def test_not_a_feed_is_refused(plugdesk_app, data, message):
    with pytest.raises(FeedRefused, match=message):
        import_feed(state(plugdesk_app), data)
    assert count(plugdesk_app) == 0


def test_billion_laughs_and_external_entities_are_refused_quickly(plugdesk_app, tmp_path):
    lol = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    ) + b']><rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>'
    started = time.monotonic()
    with pytest.raises(FeedRefused, match="entit"):
        import_feed(state(plugdesk_app), lol)
    assert time.monotonic() - started < 2
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<rss version="2.0"><channel><title>t</title><item><title>&x;</title></item></channel></rss>').encode()
    with pytest.raises(FeedRefused, match="entit"):
        import_feed(state(plugdesk_app), xxe)
    assert count(plugdesk_app) == 0


def test_rss091_rdf_and_atom_feeds_are_understood(plugdesk_app):
    st = state(plugdesk_app)
    rss091 = b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old</title><link>http://old.example/</link><description>d</description>
<language>en</language><item><title>Legacy item</title><link>http://old.example/1</link>
<description>Legacy body</description></item></channel></rss>"""
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>A</title><id>urn:a</id><updated>2021-02-03T04:05:06Z</updated>
<entry><title>Atom entry</title><id>urn:a:1</id><updated>2021-02-03T04:05:06Z</updated>
<content type="html">&lt;p&gt;Atom &lt;em&gt;body&lt;/em&gt;&lt;/p&gt;</content></entry></feed>"""
    r1 = import_feed(st, rss091)
    r2 = import_feed(st, atom)
    assert r1.format.startswith("rss09") and r1.created == 1
    assert (r2.format, r2.created) == ("atom10", 1)
    with st.db.session() as s:
        entry = s.scalars(select(KbArticle).where(KbArticle.source_guid == "urn:a:1")).one()
        assert entry.body_html == "<p>Atom <em>body</em></p>"
        assert entry.published_at == datetime(2021, 2, 3, 4, 5, 6, tzinfo=UTC)
        legacy = s.scalars(select(KbArticle).where(KbArticle.title == "Legacy item")).one()
        assert legacy.source_guid == "http://old.example/1" and legacy.published_at is not None


def test_items_without_title_or_date(plugdesk_app):
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>
<description>d</description>
<item><description>no title here</description><guid>g1</guid></item>
<item><title>   </title><guid>g2</guid></item>
<item><title>No date</title><guid>g3</guid><description>body</description></item>
<item><title>Twice</title><guid>g4</guid></item><item><title>Twice again</title><guid>g4</guid></item>
</channel></rss>"""
    report = import_feed(state(plugdesk_app), feed)
    assert (report.created, report.skipped) == (2, 3)
    reasons = [i["reason"] for i in report.items if i["action"] == "skipped"]
    assert reasons.count("the item has no title") == 2 and "duplicate guid in this feed" in reasons
    note = next(i for i in report.items if i.get("guid") == "g3")
    assert "no date" in note["note"]
    with state(plugdesk_app).db.session() as s:
        first = s.scalars(select(KbArticle).where(KbArticle.source_guid == "g3")).one().published_at
    import_feed(state(plugdesk_app), feed)  # a re-import keeps the date it gave the first time
    with state(plugdesk_app).db.session() as s:
        assert s.scalars(select(KbArticle).where(KbArticle.source_guid == "g3")).one().published_at == first


@pytest.mark.slow  # 10,000 articles: ~15-40 s. Correctness only; import speed is not asserted here
def test_ten_thousand_items(plugdesk_app):
    items = "".join(f"<item><title>Item {i}</title><guid>big{i}</guid><pubDate>Mon, 01 Jan 2024 00:00:00 GMT"
                    f"</pubDate><description>&lt;p&gt;Body {i}&lt;/p&gt;</description></item>" for i in range(10_000))
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>' \
           f"<description>d</description>{items}</channel></rss>".encode()
    report = import_feed(state(plugdesk_app), feed)
    assert report.created == 10_000 and count(plugdesk_app) == 10_000
    c = plugdesk_app.test_client()
    assert c.get("/api/v1/kb/articles?q=9999").get_json()["total"] == 1


def test_round_trip_own_feed_into_a_fresh_instance(plugdesk_app_factory):
    source = plugdesk_app_factory(["auth_local"])
    bodies = {
        "Plain": "<p>Just text &amp; an ampersand</p>",
        "Rich <b>title</b> & more": '<h2>Steps</h2><ol><li><a href="https://example.com/x?a=1&amp;b=2">link</a>'
                                    "</li></ol><pre><code>if a &lt; b:</code></pre>",
        "Unicode ✓ ü": "<p>Grüße — “quotes” ✓</p><table><tbody><tr><td>1</td></tr></tbody></table>",
    }
    for i, (title, body) in enumerate(bodies.items()):
        make_article(source, title=title, body=body, published_at=datetime(2023, 6, 1 + i, 12, 0, 7, tzinfo=UTC))
    xml = source.test_client().get("/rss/kb/newest").data
    target = plugdesk_app_factory(["auth_local"])
    report = import_feed(state(target), xml)
    assert report.created == 3

    def articles(app):
        with state(app).db.session() as s:
            return {a.title: (a.published_at, a.body_html) for a in s.scalars(select(KbArticle))}

    assert articles(target) == articles(source)
    again = import_feed(state(target), xml)
    assert (again.created, again.updated, again.unchanged) == (0, 3, 3)


def test_cli_import_rss_json_and_errors(tmp_path):
    from core.cli import main
    from core.migrate import upgrade

    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\nsecret_key = "k"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n[plugins]\nenabled = ["auth_local"]\n')
    upgrade(f"sqlite:///{tmp_path / 'p.db'}")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(SMARTERTRACK)
    runner = CliRunner()
    r = runner.invoke(main, ["--config", str(config), "kb", "import-rss", str(feed), "--category", "FAQ", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert (data["created"], data["updated"], data["skipped"]) == (2, 0, 0)
    r = runner.invoke(main, ["--config", str(config), "kb", "import-rss", str(feed)])
    assert r.exit_code == 0 and "created 0, updated 2" in r.output
    bad = tmp_path / "bad.xml"
    bad.write_text("not xml")
    r = runner.invoke(main, ["--config", str(config), "kb", "import-rss", str(bad)])
    assert r.exit_code == 1 and "import refused: the feed is not well-formed XML" in r.output
    r = runner.invoke(main, ["--config", str(config), "kb", "import-rss", str(Path(tmp_path / "missing.xml"))])
    assert r.exit_code == 1 and "cannot read" in r.output
