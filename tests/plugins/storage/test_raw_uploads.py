"""Raw-body uploads (``application/octet-stream`` + ``X-Filename``): streamed into the blob service without a
form parser, with every rule of a multipart upload (issue 22)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Flask

from tests.plugins.storage.support import EXE, PDF, PNG, sha


def raw(client: Any, body: bytes, name: str | None, role: str = "user", query: str = "",
        headers: dict[str, str] | None = None) -> Any:
    """POST ``body`` as the whole request to the test upload route."""
    extra = {"X-Filename": quote(name)} if name is not None else {}
    return client.post(f"/api/v1/test-uploads/7?role={role}{query}", data=body,
                       headers={**extra, **(headers or {})}, content_type="application/octet-stream")


def test_raw_body_is_stored_hashed_and_named(app: Flask) -> None:
    r = raw(app.test_client(), PDF, "Quarterly report ü.pdf")
    assert r.status_code == 201, r.get_data(as_text=True)
    [att] = r.get_json()
    assert att["sha256"] == sha(PDF) and att["size"] == len(PDF) and att["filename"] == "Quarterly report ü.pdf"
    assert att["content_type"] == "application/pdf"


def test_content_disposition_names_the_file_too(app: Flask) -> None:
    r = raw(app.test_client(), PNG, None, headers={"Content-Disposition": 'attachment; filename="logo.png"'})
    assert r.status_code == 201 and r.get_json()[0]["filename"] == "logo.png"


def test_every_upload_rule_applies(app: Flask) -> None:
    client = app.test_client()
    assert raw(client, PDF, None).status_code == 400  # no file name
    assert raw(client, PDF, None, headers={"X-Filename": "%ff.pdf"}).status_code == 400  # not UTF-8
    assert raw(client, EXE, "setup.exe").status_code == 415  # extension not on the end users' list
    assert raw(client, EXE, "invoice.pdf").status_code == 415  # content sniffing: an executable named .pdf
    assert raw(client, PDF, "big.pdf", query="&max_file_bytes=100").status_code == 413
    r = raw(client, PDF, "fine.pdf")
    assert r.status_code == 201
