"""Markdown for KB articles: CommonMark (plus tables and strikethrough) by markdown-it-py, then the one
sanitizer (:func:`core.kb.sanitize.sanitize_html`), on save and for the editor's live preview alike."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from core.kb.sanitize import MAX_HTML, sanitize_html

if TYPE_CHECKING:  # pragma: no cover
    from markdown_it import MarkdownIt

FORMATS = ("markdown", "html")
MAX_SOURCE = MAX_HTML


@cache
def _parser() -> MarkdownIt:
    # Imported when an article is first saved or previewed, not in every serving worker.
    from markdown_it import MarkdownIt

    # Raw HTML in the source is allowed through the parser: the nh3 allow-list decides what survives.
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])


def render_markdown(source: str | None) -> str:
    """Sanitized HTML of a Markdown ``source`` (empty for none)."""
    if not source:
        return ""
    return sanitize_html(_parser().render(source[:MAX_SOURCE]))


def render_body(source: str | None, body_format: str) -> str:
    """Sanitized HTML of an article body in ``body_format`` (``markdown`` or ``html``)."""
    return render_markdown(source) if body_format == "markdown" else sanitize_html(source)


def image_reference(body_format: str, url: str, alt: str) -> str:
    """How an uploaded image is written into a body of ``body_format``."""
    clean = " ".join(alt.replace("[", "").replace("]", "").replace('"', "").split())
    if body_format == "markdown":
        return f"![{clean}]({url})"
    return f'<img src="{url}" alt="{clean}">'
