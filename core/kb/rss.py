"""RSS 2.0 feeds of the newest published KB articles (all, or one category with its subcategories).

The XML is built once per change and kept in memory per app: a request costs one dictionary lookup,
and every few seconds one cheap query (:func:`core.kb.service.kb_stamp`) to notice changes made on
other nodes. ``ETag`` (a hash of the bytes) and ``Last-Modified`` answer polling readers with 304.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import cast
from xml.etree import ElementTree as ET

from flask import Response, request

from core import __version__
from core.api.paging import lenient_limit
from core.app_state import AppState
from core.kb.models import KbArticle, KbCategory
from core.kb.sanitize import sanitize_html
from core.kb.service import article_url, descendants, kb_stamp, list_articles, runtime

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
RECHECK_SECONDS = 2.0
FEED_TITLE = "Newest KB Articles"
ATOM_NS = "http://www.w3.org/2005/Atom"
#: Not allowed in XML 1.0 (C0 controls but tab, newline, carriage return; surrogates; U+FFFE/U+FFFF), plus DEL and
#: the C1 controls, which are allowed but mean nothing in a feed.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

ET.register_namespace("atom", ATOM_NS)


@dataclass
class CachedFeed:
    """One rendered feed and what it was built from."""

    body: bytes
    etag: str
    last_modified: datetime | None
    stamp: tuple[object, ...]
    checked: float


def rfc822(when: datetime) -> str:
    """RFC 822 date as RSS wants it (``Mon, 02 Jan 2006 15:04:05 GMT``)."""
    return format_datetime(when, usegmt=True)


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 forbids (and the C1/DEL controls), so no title breaks the feed."""
    return _NOT_XML.sub("", value)


def _add(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    element.text = xml_text(text)
    return element


def build_feed(st: AppState, articles: list[KbArticle], *, title: str, link: str, self_url: str,
               description: str) -> bytes:
    """The RSS 2.0 document for ``articles`` (already newest first).

    Built as an element tree and serialised by :mod:`xml.etree.ElementTree`, which escapes every text and
    attribute; characters XML cannot carry at all (control characters) are stripped first.
    """
    newest = max((a.published_at for a in articles if a.published_at), default=None)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _add(channel, "title", title)
    _add(channel, "link", link)
    _add(channel, "description", description)
    ET.SubElement(channel, f"{{{ATOM_NS}}}link", {"href": xml_text(self_url), "rel": "self",
                                                  "type": "application/rss+xml"})
    _add(channel, "generator", f"plugdesk {__version__}")
    _add(channel, "docs", "https://www.rssboard.org/rss-specification")
    if newest:
        _add(channel, "pubDate", rfc822(newest))
        _add(channel, "lastBuildDate", rfc822(newest))
    for a in articles:
        item = ET.SubElement(channel, "item")
        _add(item, "title", a.title)
        _add(item, "link", article_url(st, a))
        if a.published_at:
            _add(item, "pubDate", rfc822(a.published_at))
        _add(item, "guid", f"kbarticle{a.id}", isPermaLink="false")
        _add(item, "description", sanitize_html(a.body_html))  # HTML, escaped as text
    ET.indent(rss, space="")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _render(st: AppState, category_id: int | None, limit: int, stamp: tuple[object, ...]) -> CachedFeed | None:
    base = st.settings.get("server", "base_url").rstrip("/")
    with st.db.session() as s:
        if category_id is None:
            ids = None
            title, link, self_path = FEED_TITLE, f"{base}/kb", "/rss/kb/newest"
            description = "The newest articles of the knowledge base."
        else:
            cat = s.get(KbCategory, category_id)
            if cat is None:
                return None
            ids = descendants(s, category_id)
            title = f"{FEED_TITLE}: {cat.name}"
            link, self_path = f"{base}/kb/category/{cat.id}", f"/rss/kb/category/{cat.id}"
            description = f"The newest knowledge base articles in {cat.name}."
        articles, _total = list_articles(s, published_only=True, category_ids=ids, limit=limit, count=False)
        self_url = base + self_path + (f"?limit={limit}" if limit != DEFAULT_LIMIT else "")
        body = build_feed(st, articles, title=title, link=link, self_url=self_url, description=description)
    newest = max((a.updated_at for a in articles), default=None)
    return CachedFeed(body, hashlib.sha256(body).hexdigest()[:32], newest and newest.replace(microsecond=0),
                      stamp, time.monotonic())


def feed_response(st: AppState, category_id: int | None) -> Response | None:
    """The (cached) feed as a conditional response; ``None`` when the category does not exist."""
    limit = lenient_limit(DEFAULT_LIMIT, MAX_LIMIT)  # default 25, clamped to 1..100
    cache = runtime(st).feed_cache
    key = (category_id, limit)
    cached: CachedFeed | None = cache.get(key)
    now = time.monotonic()
    if cached is None or now - cached.checked > RECHECK_SECONDS:
        with st.db.session() as s:
            stamp = kb_stamp(s)
        if cached is not None and cached.stamp == stamp:
            cached.checked = now
        else:
            cached = _render(st, category_id, limit, stamp)
            if cached is None:
                return None
            if len(cache) > 256:
                cache.clear()
            cache[key] = cached
    response = Response(cached.body, content_type="application/rss+xml; charset=utf-8")
    response.set_etag(cached.etag)
    if cached.last_modified:
        response.last_modified = cached.last_modified
    response.headers["Cache-Control"] = "public, max-age=60"
    return cast(Response, response.make_conditional(request))
