"""The one paging helper: ``limit``/``offset`` for API lists, ``page`` for HTML lists, and id-like search text.

Every bound is checked: ``limit`` is 1..the route's maximum (never above :data:`MAX_LIMIT`), ``offset`` and
``page`` are never negative nor so large that the database driver overflows. API routes declare
``query=page_query(default, maximum)`` (the OpenAPI document shows the same bounds); HTML pages call
:func:`page_number`, where junk simply means the first page, and feeds call :func:`lenient_limit`.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from flask import request
from pydantic import Field, ValidationError, create_model

from core.api.registry import ApiModel
from core.schema import MAX_ID

MAX_LIMIT = 500
MAX_OFFSET = 10**9
MAX_PAGE = 10**6


class Page(ApiModel):
    """``?limit=&offset=``: how many items, after how many."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many items (at most the route's maximum)")] = 25
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET, description="How many items to skip")] = 0


@cache
def page_query(default: int, maximum: int = MAX_LIMIT) -> type[Page]:
    """A :class:`Page` model whose ``limit`` defaults to ``default`` and is refused above ``maximum``."""
    if not 1 <= default <= maximum <= MAX_LIMIT:
        raise ValueError(f"page_query({default}, {maximum}): need 1 <= default <= maximum <= {MAX_LIMIT}")
    limit = Annotated[int, Field(ge=1, le=maximum, description=f"How many items (1-{maximum})")]
    return create_model(f"Page{default}to{maximum}", __base__=Page, limit=(limit, default))


class _PageNumber(ApiModel):
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1


def page_number() -> int:
    """``?page=`` of an HTML list: a whole number from 1; anything else (junk, 0, -1, 10**30) is page 1."""
    try:
        return _PageNumber.model_validate({"page": request.args.get("page", "1")}, strict=False).page
    except ValidationError:
        return 1


def lenient_limit(default: int, maximum: int, name: str = "limit") -> int:
    """``?limit=`` of a feed or an HTML list: clamped to 1..``maximum`` (``-1`` is 1, ``10**30`` is the
    maximum); junk or absent means ``default``. Feed readers get items, not a 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    negative, digits = text.startswith("-"), text.lstrip("+-")
    if not (digits.isascii() and digits.isdigit()) or len(text) - len(digits) > 1:
        return default
    if negative:
        return 1
    return maximum if len(digits) > 12 else max(1, min(maximum, int(digits)))  # never int() 4000 digits


def offset_of(page: int, page_size: int) -> int:
    """The ``offset`` of 1-based ``page``."""
    return (page - 1) * page_size


def id_in(text: str) -> int | None:
    """A ticket/user id typed into a search box (``"42"``), or ``None``: ASCII digits within the id range only
    (``"²".isdigit()`` is true, but ``int("²")`` fails; ``"9" * 30`` would overflow the database)."""
    text = text.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
