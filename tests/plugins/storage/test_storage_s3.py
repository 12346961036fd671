"""storage_s3 against a real S3 endpoint (moto_server): contract, dedup, multipart, faults, config."""

from __future__ import annotations

import http.client
import io
import os
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.app_state import state
from core.contracts.storage import StorageBackendContract, blob
from core.files.fsck import fsck
from core.files.models import Attachment, Blob
from core.files.service import file_service
from core.types import PluginConfigError, StorageUnavailable
from plugins.storage_s3 import S3BlobStore, S3Config, parse_config
from tests.plugins.storage.support import PDF, sha, upload
from tests.realservers import free_port, spawn, stop, wait_until


def make_store(endpoint: str, bucket: str, **kw: Any) -> S3BlobStore:
    return S3BlobStore(S3Config(bucket=bucket, endpoint_url=endpoint, access_key_id="testing",
                                secret_access_key="testing", connect_timeout=2, read_timeout=5, max_attempts=2, **kw))


@pytest.mark.slow
class TestS3Contract(StorageBackendContract):
    @pytest.fixture
    def store(self, s3_endpoint: str, s3_bucket: str) -> S3BlobStore:
        return make_store(s3_endpoint, s3_bucket)


@pytest.mark.slow
def test_single_part_sends_sha256_and_if_none_match(s3_endpoint: str, s3_bucket: str, s3_client: Any) -> None:
    store = make_store(s3_endpoint, s3_bucket)
    digest, data = blob(b"checksummed")
    assert store.put(digest, io.BytesIO(data), len(data)) is True
    head = s3_client.head_object(Bucket=s3_bucket, Key=store.key(digest), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == __import__("base64").b64encode(bytes.fromhex(digest)).decode()
    assert store.key(digest) == f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
    store.exists = lambda d: False  # skip the HEAD shortcut: the conditional PUT itself must answer 412
    assert store.put(digest, io.BytesIO(b"other bytes"), 11) is False
    assert s3_client.get_object(Bucket=s3_bucket, Key=store.key(digest))["Body"].read() == data


@pytest.mark.slow
def test_multipart_upload(s3_endpoint: str, s3_bucket: str, s3_client: Any) -> None:
    store = make_store(s3_endpoint, s3_bucket, multipart_threshold=5 * 1024 * 1024, part_size=5 * 1024 * 1024)
    digest, data = blob(os.urandom(11 * 1024 * 1024 + 5))
    assert store.put(digest, io.BytesIO(data), len(data)) is True
    assert s3_client.head_object(Bucket=s3_bucket, Key=store.key(digest))["ETag"].endswith('-3"')
    assert b"".join(store.open(digest, 6 * 1024 * 1024, 6 * 1024 * 1024 + 9)) == data[6 * 1024 * 1024:][:10]
    store.exists = lambda d: False
    assert store.put(digest, io.BytesIO(data), len(data)) is False  # complete_multipart_upload -> 412
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []  # aborted, not left


@pytest.mark.slow
def test_uploads_and_downloads_through_the_app(s3_app: Flask, s3_client: Any, s3_bucket: str) -> None:
    client = s3_app.test_client()
    r = upload(client, 1, [(PDF, "a.pdf"), (PDF, "b.pdf")])
    assert r.status_code == 201
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"blobs/{sha(PDF)[:2]}/{sha(PDF)[2:4]}/{sha(PDF)}"]
    from tests.plugins.storage.test_uploads import token_for

    token, _uid = token_for(s3_app, "agent")
    att = r.get_json()[1]["id"]
    got = client.get(f"/api/v1/attachments/{att}", headers={"Authorization": f"Bearer {token}", "Range": "bytes=0-4"})
    assert got.status_code == 206 and got.data == PDF[:5]
    assert client.get("/healthz").get_json()["checks"]["storage"] == "ok"
    assert fsck(file_service(state(s3_app)))["problems"] == []


class FaultyProxy(ThreadingHTTPServer):
    """Forwards to S3; answers 500 InternalError to writes while ``fail_writes`` is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.replace("http://", "")
        self.fail_writes = True
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultyProxy

    def log_message(self, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command in ("PUT", "POST") and self.server.fail_writes:
            error = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        conn = http.client.HTTPConnection(self.server.upstream, timeout=10)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward  # noqa: N815


@pytest.mark.slow
def test_s3_returning_500_gives_503_and_nothing_in_the_database(make_app, s3_table: dict[str, Any],
                                                                 s3_endpoint: str) -> None:
    proxy = FaultyProxy(s3_endpoint)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        table = {**s3_table, "endpoint_url": f"http://127.0.0.1:{proxy.server_address[1]}"}
        app = make_app(["auth_local", "storage_s3"], {"storage": {"backend": "s3"}, "plugins": {"storage_s3": table}})
        r = upload(app.test_client(), 1, [(PDF, "a.pdf")])
        assert r.status_code == 503 and r.headers["Retry-After"] == "30"
        assert "nothing was saved" in r.get_json()["detail"]
        with state(app).db.session() as s:
            assert s.scalar(select(func.count()).select_from(Blob)) == 0
            assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        proxy.fail_writes = False
        assert upload(app.test_client(), 1, [(PDF, "a.pdf")]).status_code == 201
        assert fsck(file_service(state(app)), grace_seconds=0)["problems"] == []
    finally:
        proxy.shutdown()


@pytest.mark.slow
def test_s3_stopped_mid_upload(make_app, tmp_path: Path) -> None:
    port = free_port()
    proc = spawn([Path(sys.executable).with_name("moto_server"), "-H", "127.0.0.1", "-p", port], tmp_path / "moto.log")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).status == 200, proc, "moto")
        table = {"bucket": "midway", "endpoint_url": endpoint, "access_key_id": "testing",
                 "secret_access_key": "testing", "multipart_threshold_mb": 5, "part_size_mb": 5,
                 "connect_timeout": 1, "read_timeout": 3, "max_attempts": 1}
        app = make_app(["auth_local", "storage_s3"], {"storage": {"backend": "s3"}, "plugins": {"storage_s3": table}})
        store = state(app).storage
        store.client.create_bucket(Bucket="midway")

        def kill_after_first_part(**_kw: Any) -> None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

        store.client.meta.events.register("after-call.s3.UploadPart", kill_after_first_part)
        data = os.urandom(12 * 1024 * 1024)
        r = upload(app.test_client(), 1, [(data, "big.bin")], role="agent")
        assert r.status_code == 503
        with state(app).db.session() as s:
            assert s.scalar(select(func.count()).select_from(Blob)) == 0
        assert app.test_client().get("/healthz").status_code == 503
        with pytest.raises(StorageUnavailable):
            store.check()
        assert list((state(app).settings.data_dir / "tmp").glob("*")) == []  # temp file removed
    finally:
        stop(proc)


def test_parse_config() -> None:
    config = parse_config({"bucket": "my-bucket", "prefix": "/files", "endpoint_url": "http://127.0.0.1:9000"})
    assert (config.bucket, config.prefix, config.region) == ("my-bucket", "files/", "us-east-1")
    assert config.access_key_id is None and "testing" not in repr(parse_config(
        {"bucket": "abc", "access_key_id": "testing", "secret_access_key": "testing"}))
    for raw, key in (({}, "bucket"), ({"bucket": "A_B"}, "bucket"), ({"bucket": "abc", "endpoint_url": "ftp://x"},
                     "endpoint_url"), ({"bucket": "abc", "access_key_id": "k"}, "secret_access_key"),
                     ({"bucket": "abc", "part_size_mb": 2}, "part_size_mb"), ({"bucket": "abc", "colour": 1}, "colour"),
                     ({"bucket": "abc", "read_timeout": True}, "read_timeout")):
        with pytest.raises(PluginConfigError) as info:
            parse_config(raw)
        assert info.value.key == key


def test_secrets_from_env_and_file(tmp_path: Path) -> None:
    from core.app import create_app
    from core.settings import load_settings

    secret = tmp_path / "s3secret"
    secret.write_text("secret-from-file\n")
    settings = load_settings(None, environ={"S3_TEST_KEY": "key-from-env"}, overrides={
        "server": {"data_dir": str(tmp_path), "secret_key": "x" * 32},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "plugins": {"enabled": ["auth_local", "storage_s3"],
                    "storage_s3": {"bucket": "abc", "access_key_id": {"$env": "S3_TEST_KEY"},
                                   "secret_access_key": {"$file": str(secret)}}},
        "storage": {"backend": "s3"}})
    config = state(create_app(settings)).storage.config
    assert config.access_key_id == "key-from-env" and config.secret_access_key == "secret-from-file"
    assert "secret-from-file" not in repr(settings) and "key-from-env" not in repr(config)
