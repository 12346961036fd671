"""HTTP revalidation of KB pages for every reader, logged in or not: ``ETag`` + ``304 Not Modified``.

A KB page is the same for a reader until the article, the listing or something personal on it (name,
role, flashed messages, the vote) changes. The validator is a hash of the page as rendered with its CSRF tokens
blanked out (a token is re-signed with a timestamp at each render yet stays valid for hours), plus the
current hour, so a copy revalidated with a 304 never carries a token older than about an hour. Pages of
logged-in readers are ``Cache-Control: private, no-cache``: only the reader's browser keeps them, and it asks
again each time (a 304 costs no bytes of HTML on the wire, and the browser skips re-parsing the page).
Anonymous pages keep what the micro-cache and the rest of the app decide, plus the validator.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import cast

from flask import Response, request, session

_TOKEN = re.compile(rb'(name="csrf_token" type="hidden" value=")[^"]*(")')
ENDPOINTS = frozenset({"kb.index", "kb.category", "kb.article", "kb.search"})


def page_etag(body: bytes, now: float | None = None) -> str:
    """The weak validator of a rendered page: its bytes without CSRF token values, and the current hour."""
    masked = _TOKEN.sub(rb"\1\2", body)
    hour = int((time.time() if now is None else now) // 3600)
    return hashlib.sha256(masked + b"|%d" % hour).hexdigest()[:32]


def revalidate(response: Response) -> Response:
    """``after_request`` of the KB blueprint: add the validator and answer a matching ``If-None-Match``."""
    if (request.method not in ("GET", "HEAD") or request.endpoint not in ENDPOINTS
            or response.status_code != 200 or response.mimetype != "text/html" or response.direct_passthrough):
        return response
    response.set_etag(page_etag(response.get_data()), weak=True)
    if session.get("uid") is not None:
        response.headers["Cache-Control"] = "private, no-cache"  # before security_headers' no-store default
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" not in environ and "HTTP_IF_MODIFIED_SINCE" not in environ:
        return response  # nothing to compare: make_conditional would only parse headers that are not there
    return cast(Response, response.make_conditional(request))
