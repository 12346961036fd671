"""Downloads (API and browser session), the storage page, and how file errors are answered.

* ``GET /api/v1/attachments/<id>`` (bearer token) and ``GET /attachments/<id>`` (web session) stream an
  attachment to users its owner type allows (404 for everyone else, so ids cannot be probed).
* Responses are ``attachment`` downloads with an RFC 6266 file name (``inline`` only for raster images),
  ``X-Content-Type-Options: nosniff``, a sandboxing CSP, a strong ``ETag`` from the SHA-256, and
  single-range ``Range`` support (206/416) with ``If-Range`` and ``If-None-Match``.
* :class:`UploadRejected` becomes its status with the reason; :class:`StorageError` becomes 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Blueprint, Response, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from core.api.registry import ApiProblem, api_route
from core.app_state import state
from core.files.models import Attachment
from core.files.owners import can_read, owner_types
from core.files.rules import UploadRejected, content_disposition, served_type
from core.files.service import file_service, human_size
from core.models import User
from core.types import BlobNotFound, Role, StorageError, StorageUnavailable
from core.users import to_info
from core.web.errors import problem, render_error
from core.web.helpers import current_user, login_required

log = logging.getLogger("plugdesk.files")
files_blueprint = Blueprint("files", __name__)
bp = files_blueprint

SANDBOX_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
ATTACHMENT_SCHEMA = {"type": "string", "format": "binary"}


def _closing(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """Yield ``first`` then ``rest``; close ``rest`` (the file or the S3 body) when the client goes away."""
    try:
        yield from chain((first,), rest)
    finally:
        close = getattr(rest, "close", None)
        if close:
            close()


def _byte_range(size: int, etag: str) -> tuple[int, int] | None:
    """The single byte range to serve as ``(start, stop)``, or ``None`` for the whole file."""
    header = request.headers.get("Range")
    if not header or size == 0:
        return None
    if_range = request.headers.get("If-Range")
    if if_range and if_range.strip() != f'"{etag}"':
        return None  # the client's copy is another version: send everything
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None  # unparsable or multi-range: ignoring Range is allowed (RFC 9110 14.2)
    span = parsed.range_for_length(size)
    if span is None:
        raise RequestedRangeNotSatisfiable(length=size)
    return span


def _not_found(detail: str) -> Exception:
    if request.path.startswith("/api/"):
        return ApiProblem(404, "Not found", detail)
    return NotFound(detail)


def send_attachment(attachment_id: int, user: User | None) -> Response:
    """The download response for ``attachment_id`` if ``user`` may read it; 404 otherwise."""
    st = state()
    with st.db.session() as s:
        attachment = s.get(Attachment, attachment_id)
    info = to_info(user) if user is not None else None
    if attachment is None or not can_read(info, attachment.owner_type, attachment.owner_id):
        raise _not_found("There is no such attachment, or you may not see it.")
    digest = attachment.blob_digest
    ctype = served_type(attachment.content_type)
    headers = {"Content-Disposition": content_disposition(attachment.filename, attachment.content_type),
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": SANDBOX_CSP,
               "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=0, must-revalidate",
               "ETag": f'"{digest}"'}
    if request.if_none_match.contains(digest):
        return Response(status=304, headers=headers)
    span = _byte_range(attachment.size, digest)
    start, stop = span if span else (0, attachment.size)
    service = file_service(st)
    try:
        rest = service.open(attachment, start, stop - 1) if stop > start else iter(())
        first = next(rest, b"")  # surface a missing blob or a storage outage before the headers go out
    except BlobNotFound:
        log.error("attachment %s: blob %s is missing from storage (run plugdesk storage fsck)",
                  attachment_id, digest)
        raise _not_found("The content of this attachment is missing from storage.") from None
    response = Response(_closing(first, rest), status=206 if span else 200, headers=headers, mimetype=None,
                        content_type=ctype, direct_passthrough=True)
    response.content_length = stop - start
    if span:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{attachment.size}"
    return response


@api_route(bp, "/api/v1/attachments/<int:attachment_id>", "GET", summary="Download an attachment",
           auth=Role.USER, tags=["attachments"],
           responses={200: ("The file (Content-Disposition names it)", ATTACHMENT_SCHEMA),
                      206: ("The requested byte range", ATTACHMENT_SCHEMA),
                      304: ("Not modified (If-None-Match)", None),
                      404: ("No such attachment, or not yours to see", None),
                      416: ("Range not satisfiable", None),
                      503: ("File storage is not answering", None)})
def api_download(attachment_id: int) -> ResponseReturnValue:
    """Stream an attachment to a user its owner type allows."""
    return send_attachment(attachment_id, g.api_user)


@bp.get("/attachments/<int:attachment_id>")
def web_download(attachment_id: int) -> ResponseReturnValue:
    """The same download for browser sessions and anonymous readers (public KB images); the owner type
    decides who may read."""
    return send_attachment(attachment_id, current_user())


@bp.get("/manage/storage")
@login_required(Role.MANAGER)
def storage_page() -> ResponseReturnValue:
    """Disk usage: bytes stored, bytes saved by deduplication, blobs, attachments, backend health."""
    st = state()
    usage = file_service(st).usage()
    try:
        st.storage.check() if st.storage else None
        health = "ok" if st.storage else "no storage backend enabled"
    except Exception as exc:
        health = f"error: {exc.__class__.__name__}: {exc}"
    sizes = {k: human_size(v) for k, v in usage.items() if k.startswith("bytes_")}
    return render_template("manage/storage.html", usage=usage, sizes=sizes, health=health,
                           backend=st.settings.get("storage", "backend"), owner_types=owner_types())


@bp.app_errorhandler(UploadRejected)
def upload_rejected(exc: UploadRejected) -> Any:
    """The status and reason of a refused upload (problem+json with ``errors`` under ``/api/``)."""
    if request.path.startswith("/api/"):
        return problem(exc.status, {400: "Bad upload", 413: "Too large", 415: "File type not allowed"}
                       .get(exc.status, "Upload refused"), exc.message, errors={exc.field: exc.message})
    return render_error(exc.status, exc.message)


@bp.app_errorhandler(StorageError)
def storage_error(exc: StorageError) -> Any:
    """503 with ``Retry-After`` when the blob store fails; the reason goes to the log only."""
    log.error("file storage failed on %s %s: %s: %s", request.method, request.path, exc.__class__.__name__, exc)
    detail = ("File storage is not answering; nothing was saved. Please try again in a minute."
              if isinstance(exc, StorageUnavailable) else "File storage failed; nothing was saved.")
    response = render_error(503, detail)
    if isinstance(response, tuple):
        response = Response(response[0], status=503, mimetype="text/html")
    response.headers["Retry-After"] = "30"
    return response


@bp.errorhandler(ApiProblem)
def api_problem(exc: ApiProblem) -> Any:
    """problem+json for :class:`ApiProblem` raised in this blueprint's API routes."""
    return exc.get_response()
