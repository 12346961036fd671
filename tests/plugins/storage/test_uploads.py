"""Uploads and downloads through the app (Flask test client, real SQLite, real storage_fs)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.app_state import state
from core.auth.sessions import issue_token
from core.files.fsck import fsck
from core.files.models import Attachment, Blob
from core.files.service import file_service
from core.models import User
from core.testing import create_user
from tests.plugins.storage.conftest import blob_files
from tests.plugins.storage.support import EXE, PDF, PNG, sha, upload


def counts(app: Flask) -> tuple[int, int]:
    with state(app).db.session() as s:
        return (s.scalar(select(func.count()).select_from(Blob)),
                s.scalar(select(func.count()).select_from(Attachment)))


def store_root(app: Flask) -> Path:
    return state(app).storage.root


def token_for(app: Flask, role: str) -> tuple[str, int]:
    info = create_user(app, role)
    st = state(app)
    with st.db.session() as s:
        return issue_token(st.db, s.get(User, info.id)), info.id


def test_dedup_one_blob_many_attachments(app: Flask) -> None:
    client = app.test_client()
    r = upload(client, 1, [(PNG, "logo.png"), (PNG, "copy.png")])
    assert r.status_code == 201
    r2 = upload(client, 2, [(PNG, "again.png"), (PDF, "doc.pdf")])
    assert r2.status_code == 201
    body = r.get_json() + r2.get_json()
    assert {a["sha256"] for a in body} == {sha(PNG), sha(PDF)}
    assert [a["filename"] for a in body] == ["logo.png", "copy.png", "again.png", "doc.pdf"]
    assert body[0]["content_type"] == "image/png" and body[3]["content_type"] == "application/pdf"
    assert counts(app) == (2, 4)
    with state(app).db.session() as s:
        assert s.get(Blob, sha(PNG)).refcount == 3 and s.get(Blob, sha(PDF)).refcount == 1
    files = blob_files(store_root(app))
    assert [f.name for f in files] == sorted([sha(PNG), sha(PDF)])
    png = store_root(app) / sha(PNG)[:2] / sha(PNG)[2:4] / sha(PNG)
    assert png.read_bytes() == PNG and png.stat().st_mode & 0o777 == 0o600
    assert store_root(app).stat().st_mode & 0o777 == 0o700 and png.parent.stat().st_mode & 0o777 == 0o700
    usage = file_service(state(app)).usage()
    assert usage["bytes_saved"] == 2 * len(PNG) and usage["bytes_stored"] == len(PNG) + len(PDF)


@pytest.mark.parametrize(("name", "status", "shown"), [
    ("../../etc/passwd", 415, None),      # basename "passwd" has no extension: not on the users' list
    ("a/b.pdf", 201, "b.pdf"),
    ("con.txt", 201, "con.txt"),
    ("x.pdf.", 201, "x.pdf"),
    ("x.pdf ", 201, "x.pdf"),
    (".PhP", 415, None),
    ("x.jpg.exe", 415, None),
    ("a\x00b.pdf", 400, None),
    ("invoice\u202efdp.exe", 400, None),
])
def test_bad_filenames_from_end_users(app: Flask, name: str, status: int, shown: str | None) -> None:
    content = b"plain words\n" if name.endswith(".txt") else PDF
    r = upload(app.test_client(), 1, [(content, name)])
    assert r.status_code == status, r.get_data(as_text=True)
    if shown:
        assert r.get_json()[0]["filename"] == shown
    else:
        problem = r.get_json()
        assert r.mimetype == "application/problem+json" and problem["status"] == status
        assert problem["errors"]["files"] == problem["detail"]
        assert counts(app) == (0, 0)
    # names are never paths: only digest-named files exist under the store
    assert all(len(f.name) == 64 for f in blob_files(store_root(app)))
    assert not (Path(state(app).settings.data_dir) / "etc").exists()


def test_agents_may_upload_any_extension_but_not_disguised_executables(app: Flask) -> None:
    client = app.test_client()
    assert upload(client, 1, [(b"<?php echo 1;", ".PhP")], role="agent").status_code == 201
    assert upload(client, 1, [(EXE, "setup.exe")], role="agent").status_code == 201
    r = upload(client, 1, [(EXE, "photo.jpg")], role="agent")
    assert r.status_code == 415 and b"executable" in r.data
    assert counts(app) == (2, 2)


def test_300_byte_name_is_shortened(app: Flask) -> None:
    r = upload(app.test_client(), 1, [(PDF, "n" * 296 + ".pdf")])
    assert r.status_code == 201
    name = r.get_json()[0]["filename"]
    assert len(name.encode()) == 255 and name.endswith("….pdf")


def test_allow_list_comes_from_runtime_settings(app: Flask) -> None:
    client = app.test_client()
    assert upload(client, 1, [(b"a,b\n", "t.csv")]).status_code == 415
    state(app).runtime.patch({"security.uploads.user_extensions": [".csv", ".TXT"]}, actor="test")
    assert upload(client, 1, [(b"a,b\n", "t.csv")]).status_code == 201
    r = upload(client, 1, [(PDF, "doc.pdf")])
    assert r.status_code == 415 and ".csv, .txt" in r.get_data(as_text=True)


def test_zero_byte_files(app: Flask) -> None:
    client = app.test_client()
    r = upload(client, 1, [(b"", "empty.txt")])
    assert r.status_code == 201 and r.get_json()[0]["size"] == 0
    assert r.get_json()[0]["sha256"] == sha(b"")
    assert upload(client, 1, [(b"", "empty.png")]).status_code == 415  # no PNG signature
    assert counts(app) == (1, 1)


def test_per_file_limit_exactly_at_and_one_byte_over(app: Flask) -> None:
    client = app.test_client()
    limit = 50_000
    query = f"&max_file_bytes={limit}"
    assert upload(client, 1, [(b"x" * limit, "at.txt")], query=query).status_code == 201
    r = upload(client, 1, [(b"x" * (limit + 1), "over.txt")], query=query)
    assert r.status_code == 413
    problem = r.get_json()
    assert f"({limit} bytes) per file" in problem["detail"] and problem["errors"]["files"]
    assert counts(app) == (1, 1)
    assert len(blob_files(store_root(app))) == 1  # no temp file left behind


def test_per_request_limit_413_names_the_limit(make_app) -> None:
    app = make_app(overrides={"server": {"max_request_mb": 1}})
    r = upload(app.test_client(), 1, [(b"y" * (1024 * 1024 + 1), "big.txt")])
    assert r.status_code == 413 and "limit of 1 MiB" in r.get_json()["detail"]
    page = upload(app.test_client(), 1, [(b"y" * 1001, "big.txt")], api=False, query="&max_file_bytes=1000")
    assert page.status_code == 413 and "limit of 1000 bytes" in page.get_data(as_text=True)  # the HTML error page
    assert counts(app) == (0, 0)


def test_truncated_multipart_body(app: Flask) -> None:
    body = (b'--BB\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nhello, this body ends before its closing boundary")
    r = app.test_client().post("/api/v1/test-uploads/1", data=body, content_type="multipart/form-data; boundary=BB")
    assert r.status_code == 400 and "cut off" in r.get_json()["detail"]
    assert counts(app) == (0, 0) and blob_files(store_root(app)) == []


def test_interrupted_stream_leaves_nothing(app: Flask, service) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.sent > 3 * 1024 * 1024:
                raise ConnectionResetError("client went away")
            self.sent += 1024 * 1024
            return b"z" * (1024 * 1024)

    with app.app_context(), pytest.raises(ConnectionResetError):
        service.ingest(Broken(), "big.txt")
    assert counts(app) == (0, 0)
    service.gc(0)
    assert blob_files(store_root(app)) == []


# ----------------------------------------------------------------------------- downloads


def test_download_authorization_headers_etag_ranges(app: Flask) -> None:
    owner_token, owner_id = token_for(app, "user")
    other_token, _ = token_for(app, "user")
    agent_token, _ = token_for(app, "agent")
    client = app.test_client()
    pdf_id = upload(client, owner_id, [(PDF, "Résumé.pdf")]).get_json()[0]["id"]
    png_id = upload(client, owner_id, [(PNG, "logo.png")]).get_json()[0]["id"]

    def get(att: int, token: str | None, **headers: str):
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return client.get(f"/api/v1/attachments/{att}", headers=headers)

    assert get(pdf_id, None).status_code == 401
    denied = get(pdf_id, other_token)  # another customer
    assert denied.status_code == 404 and denied.mimetype == "application/problem+json"
    assert get(999, owner_token).status_code == 404
    assert get(pdf_id, agent_token).status_code == 200

    r = get(pdf_id, owner_token)
    assert r.status_code == 200 and r.data == PDF
    assert r.headers["Content-Disposition"] == ("attachment; filename=\"Resume.pdf\"; "
                                                "filename*=UTF-8''R%C3%A9sum%C3%A9.pdf")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["ETag"] == f'"{sha(PDF)}"' and r.headers["Accept-Ranges"] == "bytes"
    assert r.mimetype == "application/pdf" and int(r.headers["Content-Length"]) == len(PDF)
    assert get(png_id, owner_token).headers["Content-Disposition"].startswith("inline;")

    assert get(pdf_id, owner_token, **{"If-None-Match": f'"{sha(PDF)}"'}).status_code == 304
    part = get(pdf_id, owner_token, Range="bytes=4-9")
    assert part.status_code == 206 and part.data == PDF[4:10]
    assert part.headers["Content-Range"] == f"bytes 4-9/{len(PDF)}"
    assert get(pdf_id, owner_token, Range="bytes=-5").data == PDF[-5:]
    tail = get(pdf_id, owner_token, Range=f"bytes={len(PDF) - 3}-")
    assert tail.status_code == 206 and tail.data == PDF[-3:]
    bad = get(pdf_id, owner_token, Range=f"bytes={len(PDF) + 10}-")
    assert bad.status_code == 416
    stale = get(pdf_id, owner_token, Range="bytes=0-3", **{"If-Range": '"other"'})
    assert stale.status_code == 200 and stale.data == PDF


def test_web_session_download(app: Flask, login_as) -> None:
    client, user = login_as(app, "user")
    att = upload(client, user.id, [(PDF, "mine.pdf")]).get_json()[0]["id"]
    other = upload(client, user.id + 1000, [(PDF, "theirs.pdf")]).get_json()[0]["id"]
    assert client.get(f"/attachments/{att}").data == PDF
    assert client.get(f"/attachments/{other}").status_code == 404
    assert app.test_client().get(f"/attachments/{att}").status_code == 404  # anonymous: not theirs
    public = upload(client, 0, [(PDF, "public.pdf")]).get_json()[0]["id"]
    assert app.test_client().get(f"/attachments/{public}").data == PDF  # the owner type allows anonymous


def test_missing_blob_is_404_and_reported_by_fsck(app: Flask, service) -> None:
    token, uid = token_for(app, "user")
    att = upload(app.test_client(), uid, [(PDF, "a.pdf")]).get_json()[0]["id"]
    service.store.delete(sha(PDF))
    r = app.test_client().get(f"/api/v1/attachments/{att}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and "missing" in r.get_json()["detail"]
    report = fsck(service)
    assert [p["kind"] for p in report["problems"]] == ["missing"]


def test_openapi_documents_the_download(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/attachments/{attachment_id}"]["get"]
    assert op["security"] == [{"bearer": []}] and {"200", "206", "404", "416"} <= set(op["responses"])


def test_storage_page(app: Flask, login_as) -> None:
    upload(app.test_client(), 1, [(PNG, "a.png"), (PNG, "b.png")])
    client, _ = login_as(app, "manager")
    page = client.get("/manage/storage").get_data(as_text=True)
    assert "saved by deduplication" in page and "test_owner" in page and ">1</span> distinct files" in page
    user_client, _ = login_as(app, "agent")
    assert user_client.get("/manage/storage").status_code == 403
