"""The KB editor's form: Markdown or HTML bodies, and images uploaded straight into the body.

New articles are written in Markdown; articles saved as HTML (older ones, the API, RSS imports) stay HTML
until the editor switches them. Images go through ``core.files`` (deduplicated, owner ``kb_article``) and
are referenced where the cursor was (``![name](/attachments/ID)`` or ``<img>``): published articles'
images are public, drafts' are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Request, url_for

from core.kb.markdown import FORMATS, image_reference
from core.kb.models import KbArticle
from core.kb.service import KbError, save_article

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def stored_values(article: KbArticle | None) -> dict[str, Any]:
    """The form's values for an existing article (or a new one: empty, Markdown, draft)."""
    if article is None:
        return {"title": "", "body": "", "format": "markdown", "category_id": None, "published": False}
    markdown = article.body_format == "markdown"
    return {"title": article.title, "body": article.body_source if markdown else article.body_html,
            "format": "markdown" if markdown else "html", "category_id": article.category_id,
            "published": article.published}


def posted_values(form: Mapping[str, str], category_id: int | None) -> dict[str, Any]:
    """The form's values as posted; ``body_html`` alone (older clients) means an HTML body."""
    if "body" in form:
        body, body_format = form.get("body", ""), form.get("format", "markdown")
    else:
        body, body_format = form.get("body_html", ""), "html"
    return {"title": form.get("title", ""), "body": body,
            "format": body_format if body_format in FORMATS else "markdown", "category_id": category_id,
            "published": form.get("published") == "on"}


def save_arguments(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`core.kb.service.save_article` for the form's values."""
    markdown = values["format"] == "markdown"
    return {"title": values["title"], "body_html": "" if markdown else values["body"],
            "body_markdown": values["body"] if markdown else None, "category_id": values["category_id"],
            "published": values["published"]}


def _insert(body: str, addition: str, cursor: str) -> str:
    """``body`` with ``addition`` on lines of its own at ``cursor`` (a character offset; else at the end)."""
    try:
        at = max(0, min(len(body), int(cursor)))
    except ValueError:
        at = len(body)
    before, after = body[:at], body[at:]
    lead = "" if not before or before.endswith("\n\n") else ("\n" if before.endswith("\n") else "\n\n")
    tail = "" if not after or after.startswith("\n\n") else ("\n" if after.startswith("\n") else "\n\n")
    return f"{before}{lead}{addition}{tail}{after}"


def add_images(st: Any, request: Request, article: KbArticle, role: str, cursor: str) -> int:
    """Store the request's ``images`` (raster images only) for ``article`` and reference them in its body.

    :raises KbError: no image chosen, or a file that is not a PNG, JPEG, GIF or WebP image.
    :raises core.files.rules.UploadRejected: a rule of Settings › Uploads refused a file.
    """
    from core.files.uploads import stage_uploads

    if st.storage is None:
        raise KbError("images", "No storage backend is enabled, so images cannot be stored.")
    with stage_uploads(request, role, field="images") as staged:
        if not staged:
            raise KbError("images", "Choose an image to add.")
        refused = [u.filename for u in staged if u.content_type not in IMAGE_TYPES]
        if refused:
            raise KbError("images", f"Only PNG, JPEG, GIF and WebP images go into the body: {', '.join(refused)}.")
        with st.db.session() as s:
            added = staged.attach(s, "kb_article", article.id)
            references = "\n\n".join(
                image_reference(article.body_format, url_for("files.web_download", attachment_id=a.id),
                                a.filename.rsplit(".", 1)[0]) for a in added)
    values = stored_values(article)
    values["body"] = _insert(values["body"], references, cursor)
    save_article(st, article_id=article.id, author_id=article.author_id, **save_arguments(values))
    return len(added)
