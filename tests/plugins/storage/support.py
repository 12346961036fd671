"""Test helpers: an upload plugin (blueprint calling core's save_uploads), a test owner type, a real server.

``python -m tests.plugins.storage.support CONFIG PORT`` serves plugdesk under gunicorn (core.serve, the
same as ``plugdesk serve``) with this test plugin added, so real HTTP uploads can be tested before the
tickets routes exist.
"""

from __future__ import annotations

import hashlib
import io
import sys
from typing import Any

from flask import Blueprint, jsonify, request

from core import hookimpl
from core.app_state import state
from core.files.owners import register_owner_type
from core.files.service import file_service
from core.files.uploads import attachment_json, save_uploads

OWNER = "test_owner"
STAFF = ("agent", "manager", "admin")


def can_read(user: Any, owner_id: int) -> bool:
    """A test owner ``N`` belongs to the user with id ``N``; staff read everything; owner 0 is public."""
    if user is None:
        return owner_id == 0
    return user.role in STAFF or user.id == owner_id


register_owner_type(OWNER, can_read, "owners used by the storage tests")


class UploadPlugin:
    """``POST [/api/v1]/test-uploads/<owner_id>?role=user[&max_file_bytes=N]`` stores ``files`` for the owner."""

    @hookimpl
    def register_blueprints(self) -> list[Blueprint]:
        bp = Blueprint("test_uploads", __name__)

        @bp.post("/api/v1/test-uploads/<int:owner_id>", endpoint="api_upload")
        @bp.post("/test-uploads/<int:owner_id>")
        def upload(owner_id: int) -> Any:
            role = request.args.get("role", "user")
            limit = request.args.get("max_file_bytes", type=int)
            attachments = save_uploads(request, OWNER, owner_id, role, max_file_bytes=limit)
            return jsonify([attachment_json(a) for a in attachments]), 201

        @bp.post("/test-uploads/<int:owner_id>/delete")
        def delete_owner(owner_id: int) -> Any:
            st = state()
            with st.db.session() as s:
                removed = file_service(st).detach_owner(s, OWNER, owner_id)
            return jsonify({"removed": removed})

        bp.record_once(lambda setup: setup.app.extensions["csrf"].exempt(bp))
        return [bp]


def sha(data: bytes) -> str:
    """SHA-256 hex."""
    return hashlib.sha256(data).hexdigest()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 20 + b"%%EOF\n"
EXE = b"MZ" + bytes(58) + (64).to_bytes(4, "little") + b"PE\x00\x00" + bytes(300)
ELF = b"\x7fELF\x02\x01\x01" + bytes(300)


def upload(client: Any, owner_id: int, files: list[tuple[bytes, str]], role: str = "user", api: bool = True,
           query: str = "", **kw: Any) -> Any:
    """POST files to the test upload route (under /api/v1 unless ``api=False``) with a Flask test client."""
    data = {"files": [(io.BytesIO(content), name) for content, name in files]}
    url = f"{'/api/v1' if api else ''}/test-uploads/{owner_id}?role={role}{query}"
    return client.post(url, data=data, content_type="multipart/form-data", **kw)


def main() -> None:  # pragma: no cover - runs in a subprocess
    from core.app import create_app
    from core.serve import run

    config, port = sys.argv[1], int(sys.argv[2])
    app = create_app(config, plugins={"test_uploads": UploadPlugin()})
    run(app, "127.0.0.1", port, 1, 4)


if __name__ == "__main__":  # pragma: no cover
    main()
