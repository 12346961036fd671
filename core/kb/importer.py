"""Import KB articles from an RSS feed (``plugdesk kb import-rss``), e.g. SmarterTrack's "Newest KB Articles".

Safety first: the bytes are checked with defusedxml (no entity declarations, no external entities, no
DTD fetching: billion laughs and XXE are refused before feedparser sees them), then parsed with
feedparser (RSS 0.9x/1.0/2.0 and Atom). Bodies are sanitized like every KB body; relative image and link
addresses are made absolute against the item's ``<link>`` (else the feed's), then images on other hosts
become links: nothing is fetched. Articles are keyed by (source feed, guid): the feed is its
``atom:link rel="self"`` (else the channel ``<link>``, else the URL it was read from), the guid is kept as
the feed gives it, so a re-import updates the same articles and two feeds using the same guids
(``kbarticle1`` in two installations) never overwrite each other. The item's ``<link>`` is kept as
``source_url``; an article whose item did not change keeps its ``updated_at``.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from sqlalchemy import select

from core.app_state import AppState
from core.kb.models import KbArticle
from core.kb.sanitize import remote_images_to_links, sanitize_html
from core.kb.service import KbError, find_or_create_category, runtime, save_article

MAX_BYTES = 50 * 1024 * 1024
FETCH_TIMEOUT = 20
_URL_ATTR = re.compile(r'\b(src|href)="([^"]*)"')


class FeedRefused(ValueError):
    """The whole feed was refused (not XML, dangerous XML, not a feed, unreachable)."""


@dataclass
class ImportReport:
    """What an import did, item by item."""

    source: str
    format: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, action: str, **item: Any) -> None:
        """Count and keep one item's outcome (``created``, ``updated``, ``skipped``)."""
        setattr(self, action, getattr(self, action) + 1)
        self.items.append({"action": action, **item})

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (``--json``)."""
        return {"source": self.source, "format": self.format, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": self.skipped, "items": self.items}


def read_source(source: str) -> bytes:
    """The bytes of a file path or an ``http(s)://`` URL (size-limited, with a timeout)."""
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"User-Agent": "plugdesk-kb-import/1",
                                                      "Accept": "application/rss+xml, application/xml, */*"})
        try:
            with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:  # noqa: S310 - http(s) only
                data = resp.read(MAX_BYTES + 1)
        except OSError as exc:
            raise FeedRefused(f"cannot fetch {source}: {exc}") from None
    else:
        try:
            with open(source, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise FeedRefused(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise FeedRefused(f"the feed is larger than {MAX_BYTES // (1024 * 1024)} MB")
    return data


def check_xml(data: bytes) -> None:
    """Refuse bytes that are not well-formed XML or that declare entities (entity expansion, XXE)."""
    try:
        safe_fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedRefused("the feed declares XML entities (entity expansion such as 'billion laughs', or "
                          f"external entities); refused without expanding them ({exc.__class__.__name__})") from None
    except ParseError as exc:
        raise FeedRefused(f"the feed is not well-formed XML ({exc})") from None


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _body(entry: Any) -> str:
    content = entry.get("content") or []
    if content and content[0].get("value"):
        return str(content[0]["value"])
    return str(entry.get("summary") or entry.get("description") or "")


def _guid(entry: Any, title: str) -> str:
    guid = str(entry.get("id") or entry.get("guid") or entry.get("link") or "").strip()
    if guid:
        return guid[:500]
    return "sha256:" + hashlib.sha256(title.encode()).hexdigest()


def feed_key(parsed: Any, source: str) -> str:
    """The identity of a feed: its ``atom:link rel="self"``, else its ``<link>``, else the http(s) source."""
    feed = parsed.get("feed") or {}
    for link in feed.get("links") or []:
        if link.get("rel") == "self" and link.get("href"):
            return str(link["href"]).strip()[:500]
    if feed.get("link"):
        return str(feed["link"]).strip()[:500]
    return source[:500] if source.startswith(("http://", "https://")) else ""


def absolutize(safe_html: str, base: str) -> str:
    """Make relative ``src``/``href`` addresses absolute against ``base`` (an http(s) URL; else unchanged)."""
    if not base.startswith(("http://", "https://")):
        return safe_html

    def resolve(match: re.Match[str]) -> str:
        value = html.unescape(match.group(2))
        if not value or value.startswith("#") or urlsplit(value).scheme:
            return match.group(0)
        return f'{match.group(1)}="{html.escape(urljoin(base, value))}"'

    return _URL_ATTR.sub(resolve, safe_html)


def _link(entry: Any) -> str:
    link = str(entry.get("link") or "").strip()
    return link if link.startswith(("http://", "https://")) and len(link) <= 2000 else ""


def import_feed(st: AppState, data: bytes, *, source: str = "", category: str | None = None) -> ImportReport:
    """Create or update one article per feed item; raise :class:`FeedRefused` for a bad feed."""
    check_xml(data)
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise FeedRefused("this is not an RSS or Atom feed" + (f" ({reason})" if reason else ""))
    report = ImportReport(source=source, format=str(parsed.get("version") or "unknown"))
    category_id = find_or_create_category(st, category).id if category else None
    local = {urlsplit(st.settings.get("server", "base_url")).hostname or ""}
    feed = feed_key(parsed, source)
    feed_base = str((parsed.get("feed") or {}).get("link") or "") or (source if "://" in source else "")
    seen: set[str] = set()
    with st.db.session() as s:
        existing = {(f, guid): aid for aid, f, guid in s.execute(
            select(KbArticle.id, KbArticle.source_feed, KbArticle.source_guid)
            .where(KbArticle.source_guid.is_not(None), KbArticle.source_feed.in_({feed, ""})))}
        for number, entry in enumerate(parsed.entries, 1):
            title = " ".join(str(entry.get("title") or "").split())
            if not title:
                report.add("skipped", item=number, guid=entry.get("id"), reason="the item has no title")
                continue
            guid = _guid(entry, title)
            if guid in seen:
                report.add("skipped", item=number, guid=guid, title=title, reason="duplicate guid in this feed")
                continue
            seen.add(guid)
            when = _when(entry)
            link = _link(entry)
            body = remote_images_to_links(absolutize(sanitize_html(_body(entry)), link or feed_base), local)
            # rows imported before feeds were told apart (source_feed "") are adopted by the first feed
            article_id = existing.get((feed, guid)) or existing.get(("", guid))
            note = "" if when else "the item has no date; the import time is used"
            try:
                if article_id is None:
                    art = save_article(st, title=title, body_html=body, category_id=category_id, published=True,
                                       published_at=when, source_guid=guid, source_feed=feed, source_url=link,
                                       session=s)
                    report.add("created", item=number, guid=guid, title=title, id=art.id,
                               **({"note": note} if note else {}))
                    existing[(feed, guid)] = art.id
                    continue
                old = s.get(KbArticle, article_id)
                assert old is not None, "listed in this session a moment ago"
                old.source_feed = feed
                existing[(feed, guid)] = article_id
                before = (old.title, old.body_html, old.published_at, old.category_id, old.source_url)
                art = save_article(st, article_id=article_id, title=title, body_html=body,
                                   category_id=category_id if category else old.category_id, published=True,
                                   published_at=when or old.published_at, source_url=link, session=s)
            except KbError as exc:
                report.add("skipped", item=number, guid=guid, title=title[:80], reason=exc.message)
                continue
            changed = before != (art.title, art.body_html, art.published_at, art.category_id, art.source_url)
            if not changed:
                report.unchanged += 1
            report.add("updated", item=number, guid=guid, title=title, id=art.id, changed=changed)
    runtime(st).invalidate()
    return report
