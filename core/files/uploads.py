"""Accepting uploaded files in a view: ``stage_uploads`` (before the transaction) + ``attach``.

The usual pattern in a view that creates an owner row with files (tickets, KB, community)::

    from core.files.uploads import stage_uploads

    with stage_uploads(request, role=user.role) as staged:      # hashed, checked, bytes stored
        with st.db.session() as s:                               # the owner's transaction
            message = TicketMessage(...); s.add(message); s.flush()
            attachments = staged.attach(s, "ticket_message", message.id)

Stage *before* opening the write transaction: staging commits a short transaction of its own (the blob
lease), which would wait for a write lock the caller holds on SQLite. :func:`save_uploads` does both
steps for an owner that already exists.

A request whose body is the file itself (``application/octet-stream`` with an ``X-Filename`` header,
:func:`raw_upload`) is accepted wherever a ``files`` form is: one file, streamed without a form parser.

Refusals raise :class:`core.files.rules.UploadRejected`; the app answers them (problem+json under
``/api/``, an error page elsewhere) with the status and the reason - 413 names the limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Request, current_app
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict

from core.app_state import state
from core.files.body import request_body
from core.files.models import Attachment
from core.files.rules import UploadRejected
from core.files.service import StagedUpload, file_service, human_size
from core.types import Role

STAFF_ROLES = tuple(r.value for r in Role if r.is_staff)
MAX_FILE_SETTING = "security.uploads.max_file_mb"


@dataclass(frozen=True)
class UploadLimits:
    """Size limits in bytes (``None`` = no limit of that kind)."""

    max_file_bytes: int | None
    max_request_bytes: int | None


def upload_limits(max_file_bytes: int | None = None) -> UploadLimits:
    """The limits of the current app.

    Per request: ``MAX_CONTENT_LENGTH`` (``[server] max_request_mb``), which Werkzeug enforces while
    reading. Per file: ``max_file_bytes`` if given, else the runtime setting
    ``security.uploads.max_file_mb`` when one is declared, else the per-request limit.
    """
    per_request = current_app.config.get("MAX_CONTENT_LENGTH")
    per_file = max_file_bytes
    runtime = state().runtime
    if per_file is None and MAX_FILE_SETTING in runtime.specs:
        mb = runtime.get(MAX_FILE_SETTING)
        per_file = int(mb) * 1024 * 1024 if mb else None
    if per_file is None:
        per_file = per_request
    return UploadLimits(per_file, per_request)


def allowed_extensions(role: str) -> list[str]:
    """The allow-list for ``role``: ``security.uploads.agent_extensions`` for staff, else ``user_extensions``."""
    key = "agent_extensions" if role in STAFF_ROLES else "user_extensions"
    return list(state().runtime.get(f"security.uploads.{key}"))


class StagedBatch(list[StagedUpload]):
    """Uploads staged by :func:`stage_uploads`; attach them inside the owner's transaction."""

    def attach(self, session: Session, owner_type: str, owner_id: int) -> list[Attachment]:
        """Reference every staged file from ``(owner_type, owner_id)`` in ``session``'s transaction."""
        service = file_service(state())
        return [service.attach(session, owner_type, owner_id, staged) for staged in self]

    def cleanup(self) -> None:
        """Delete the temp files (the stored bytes stay until ``gc`` finds them unreferenced)."""
        for staged in self:
            staged.cleanup()


#: The header naming a raw-body upload's file (percent-encoded UTF-8), e.g. ``X-Filename: report%202026.pdf``.
FILENAME_HEADER = "X-Filename"
RAW_TYPES = ("application/octet-stream",)


def raw_upload(request: Request, field: str = "files") -> FileStorage:
    """The body of an ``application/octet-stream`` request as one upload, streamed (never parsed as a form).

    The file name comes from ``X-Filename`` (percent-encoded UTF-8) or ``Content-Disposition: attachment;
    filename*=UTF-8''...`` / ``filename="..."``. The bytes go from :func:`core.files.body.request_body`
    (``request.stream``, limited to ``Content-Length`` and ``MAX_CONTENT_LENGTH``; under gunicorn read from the
    socket into the copy's buffer) straight into the blob service's hashing copy: every rule applies as for a
    multipart file, without the form parser (issue 22: multipart ran at 0.13 of the disk's speed).

    :raises UploadRejected: 400 without a file name.
    """
    from urllib.parse import unquote

    from werkzeug.http import parse_options_header

    try:
        name = unquote(request.headers.get(FILENAME_HEADER, ""), errors="strict")
    except UnicodeDecodeError:
        raise UploadRejected(400, f"The {FILENAME_HEADER} header is not percent-encoded UTF-8.", field) from None
    if not name:
        _kind, options = parse_options_header(request.headers.get("Content-Disposition", ""))
        name = options.get("filename", "")
    if not name.strip():
        raise UploadRejected(400, f"A raw upload (application/octet-stream) needs its file name in the "
                                  f"{FILENAME_HEADER} header (percent-encoded UTF-8).", field)
    return FileStorage(stream=request_body(request), filename=name, name=field, content_type=request.mimetype)


def _files(source: Request | MultiDict[str, FileStorage] | Iterable[FileStorage], field: str) -> list[FileStorage]:
    if isinstance(source, Request) and source.mimetype in RAW_TYPES:
        return [raw_upload(source, field)]
    if isinstance(source, Request):
        files = source.files.getlist(field)
        if (source.mimetype == "multipart/form-data" and not source.files and not source.form
                and (source.content_length or 0) > 0):
            raise UploadRejected(400, "The upload was cut off before the end of the form; nothing was saved. "
                                      "Please send it again.", field)
    elif isinstance(source, MultiDict):
        files = source.getlist(field)
    else:
        files = list(source)
    # A browser sends a part with an empty name when no file was chosen.
    return [f for f in files if f.filename]


@contextmanager
def stage_uploads(source: Request | MultiDict[str, FileStorage] | Iterable[FileStorage], role: str, *,
                  field: str = "files", max_file_bytes: int | None = None) -> Iterator[StagedBatch]:
    """Check, hash and store every uploaded file of ``field``; yield them for :meth:`StagedBatch.attach`.

    :param source: the ``request`` (lets a cut-off multipart body be detected), ``request.files`` or
        a list of :class:`FileStorage`.
    :param role: the uploader's role; staff use the agents' allow-list, everyone else the end users'.
    :param max_file_bytes: per-file limit for this form (default: see :func:`upload_limits`).
    :raises UploadRejected: a file breaks a rule; nothing is attached and temp files are removed.
    """
    limits = upload_limits(max_file_bytes)
    allowed = allowed_extensions(role)
    service = file_service(state())
    batch = StagedBatch()
    try:
        total = 0
        for upload in _files(source, field):
            staged = service.ingest(upload.stream, upload.filename, allowed_extensions=allowed,
                                    max_bytes=limits.max_file_bytes)
            batch.append(staged)
            total += staged.size
            if limits.max_request_bytes is not None and total > limits.max_request_bytes:
                raise UploadRejected(413, f"The files together are larger than the limit of "
                                          f"{human_size(limits.max_request_bytes)} per request.", field)
        yield batch
    except UploadRejected as exc:
        exc.field = field
        raise
    finally:
        batch.cleanup()


def save_uploads(source: Request | MultiDict[str, FileStorage] | Iterable[FileStorage], owner_type: str,
                 owner_id: int, role: str, *, session: Session | None = None, field: str = "files",
                 max_file_bytes: int | None = None) -> list[Attachment]:
    """Stage the uploads and attach them to an existing owner.

    :param session: attach inside this (caller's) transaction; default: a transaction of its own.
    :return: the new attachments (flushed, with ids).
    """
    with stage_uploads(source, role, field=field, max_file_bytes=max_file_bytes) as staged:
        if session is not None:
            return staged.attach(session, owner_type, owner_id)
        with state().db.session() as s:
            return staged.attach(s, owner_type, owner_id)


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    """The API shape of an attachment (CONTRACT: id, filename, size, content_type, sha256)."""
    return {"id": attachment.id, "filename": attachment.filename, "size": attachment.size,
            "content_type": attachment.content_type, "sha256": attachment.blob_digest,
            "url": f"/api/v1/attachments/{attachment.id}",
            "created_at": attachment.created_at.isoformat().replace("+00:00", "Z") if attachment.created_at
            else None}
