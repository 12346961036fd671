"""The one HTML sanitizer for KB articles and community posts (nh3, an allow-list).

Applied on save *and* on render, so a row written before a rule tightened is still rendered inert.
Scripts, ``<style>``, SVG and MathML are dropped with their content; event handlers and ``style``
attributes (CSS expressions) are never allowed; URLs keep only ``http``, ``https``, ``mailto`` and
relative references (so ``javascript:``, ``vbscript:`` and ``data:`` disappear).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3

TAGS: set[str] = set(nh3.ALLOWED_TAGS) - {"area", "map"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in TAGS},
    "*": {"title", "lang", "dir"},
    "code": {"class"},  # language-xyz for code highlighting; no styles
    "a": {"href", "hreflang", "title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
DROP_WITH_CONTENT = {"script", "style", "svg", "math", "template", "iframe", "object", "embed", "noscript",
                     "textarea", "select", "title", "xmp", "noembed", "noframes", "plaintext"}
MAX_HTML = 1_000_000

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def sanitize_html(raw: str | None) -> str:
    """Return ``raw`` reduced to the allow-list; idempotent (``sanitize(sanitize(x)) == sanitize(x)``)."""
    if not raw:
        return ""
    return nh3.clean(raw[:MAX_HTML], tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     clean_content_tags=DROP_WITH_CONTENT, link_rel="noopener noreferrer nofollow",
                     strip_comments=True).strip()


def html_to_text(safe_html: str) -> str:
    """Plain text of sanitized HTML (for search and summaries)."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", safe_html))).strip()


def summary(safe_html: str, length: int = 200) -> str:
    """The first ``length`` characters of the text, cut at a word."""
    return cut_text(html_to_text(safe_html), length)


def cut_text(text: str, length: int = 200) -> str:
    """The first ``length`` characters of plain ``text``, cut at a word."""
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0] + "…"


def remote_images_to_links(safe_html: str, local_hosts: set[str] | None = None) -> str:
    """Replace ``<img>`` pointing at another host by a link to it (nothing is fetched).

    Used by the RSS import: the portal's Content-Security-Policy only loads images from this site, and
    an import must never make plugdesk fetch arbitrary URLs.
    """
    local = {h.lower() for h in (local_hosts or set())}

    def replace(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(1)))
        src = html.unescape(attrs.get("src", ""))
        host = (urlsplit(src).hostname or "").lower()
        if not host or host in local:
            return match.group(0)
        label = html.unescape(attrs.get("alt", "")) or src
        return f'<a href="{html.escape(src)}">Image: {html.escape(label)}</a>'

    return sanitize_html(_IMG.sub(replace, safe_html))
