"""The S3 blob store (boto3): conditional writes, checksums, bounded multipart uploads."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core import BlobNotFound, BlobStore, StorageError, StorageUnavailable

CHUNK = 1024 * 1024
CONFLICT_RETRIES = 5
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "RequestTimeTooSkewed"}


@dataclass(frozen=True)
class S3Config:
    """Parsed ``[plugins.storage_s3]`` (see :mod:`plugins.storage_s3`)."""

    bucket: str
    prefix: str = "blobs/"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    multipart_threshold: int = 64 * 1024 * 1024
    part_size: int = 16 * 1024 * 1024
    connect_timeout: int = 5
    read_timeout: int = 60
    max_attempts: int = 3

    def __repr__(self) -> str:  # never print keys
        return f"S3Config(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"


def _status(exc: Exception) -> int:
    return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3BlobStore(BlobStore):
    """Blobs as ``{prefix}ab/cd/<digest>`` objects."""

    name = "s3"

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        """The boto3 client (created on first use; thread-safe; bounded timeouts and retries)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    c = self.config
                    self._client = boto3.client(
                        "s3", region_name=c.region, endpoint_url=c.endpoint_url, aws_access_key_id=c.access_key_id,
                        aws_secret_access_key=c.secret_access_key, aws_session_token=c.session_token,
                        config=Config(connect_timeout=c.connect_timeout, read_timeout=c.read_timeout,
                                      retries={"max_attempts": c.max_attempts, "mode": "standard"},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required",
                                      max_pool_connections=20))
        return self._client

    def key(self, digest: str) -> str:
        """The object key of ``digest``."""
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
        return f"{self.config.prefix}{digest[:2]}/{digest[2:4]}/{digest}"

    def _error(self, exc: Exception, what: str) -> StorageError:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        if isinstance(exc, ClientError):
            status, code = _status(exc), _code(exc)
            message = f"S3 {what}: {code or status} ({exc.response.get('Error', {}).get('Message', '')})"
            if status >= 500 or code in _UNAVAILABLE_CODES:
                return StorageUnavailable(message)
            return StorageError(message)
        if isinstance(exc, NoCredentialsError):
            return StorageError(f"S3 {what}: no credentials (set access_key_id/secret_access_key or the AWS chain)")
        if isinstance(exc, BotoCoreError | OSError):
            return StorageUnavailable(f"S3 {what}: {exc.__class__.__name__}: {exc}")
        return StorageError(f"S3 {what}: {exc.__class__.__name__}: {exc}")

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.config.bucket, **kwargs)
        except StorageError:
            raise
        except Exception as exc:
            raise self._error(exc, what) from exc

    def _conditional(self, what: str, fn: Callable[..., Any], rewind: Callable[[], object] | None = None,
                     **kwargs: Any) -> bool:
        """Run a write with ``If-None-Match: *``: True if written, False on 412; 409 is retried."""
        from botocore.exceptions import ClientError

        for attempt in range(CONFLICT_RETRIES):
            if rewind:
                rewind()
            try:
                fn(Bucket=self.config.bucket, IfNoneMatch="*", **kwargs)
                return True
            except ClientError as exc:
                if _status(exc) == 412:
                    return False
                if _status(exc) == 409 and attempt < CONFLICT_RETRIES - 1:
                    time.sleep(0.05 * 2 ** attempt)
                    continue
                raise self._error(exc, what) from exc
            except Exception as exc:
                raise self._error(exc, what) from exc
        raise StorageUnavailable(f"S3 {what}: conflicting writes did not settle")  # pragma: no cover

    # ------------------------------------------------------------------ writing
    def put(self, digest: str, stream: BinaryIO, size: int) -> bool:
        """Spool a non-seekable stream to a temp file (retries need to rewind), then upload it."""
        seekable = getattr(stream, "seekable", lambda: False)()
        if seekable:
            return self._upload(digest, stream, size)
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(stream, spool, CHUNK)
            return self._upload(digest, spool, size)

    def put_file(self, digest: str, path: Path, size: int) -> bool:
        """Upload core's verified temp file."""
        with open(path, "rb") as stream:
            return self._upload(digest, stream, size)

    def _upload(self, digest: str, stream: BinaryIO, size: int) -> bool:
        key = self.key(digest)
        if self.exists(digest):
            return False  # cheap dedup check; If-None-Match below keeps it race-free
        if size <= self.config.multipart_threshold:
            checksum = base64.b64encode(bytes.fromhex(digest)).decode()
            return self._conditional("put", self.client.put_object, rewind=lambda: stream.seek(0), Key=key,
                                     Body=stream, ContentLength=size, ChecksumAlgorithm="SHA256",
                                     ChecksumSHA256=checksum, ContentType="application/octet-stream")
        return self._multipart(key, stream, size)

    def _multipart(self, key: str, stream: BinaryIO, size: int) -> bool:
        created = self._call("create multipart upload", self.client.create_multipart_upload, Key=key,
                             ChecksumAlgorithm="SHA256", ContentType="application/octet-stream")
        upload_id = created["UploadId"]
        try:
            parts = []
            offset, number = 0, 1
            while offset < size:
                stream.seek(offset)
                data = stream.read(min(self.config.part_size, size - offset))  # one part in memory at a time
                if not data:
                    raise StorageError(f"S3 upload of {key}: the file is shorter than {size} bytes")
                checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
                result = self._call("upload part", self.client.upload_part, Key=key, UploadId=upload_id,
                                    PartNumber=number, Body=data, ChecksumSHA256=checksum)
                parts.append({"PartNumber": number, "ETag": result["ETag"], "ChecksumSHA256": checksum})
                offset += len(data)
                number += 1
                del data
            written = self._conditional("complete multipart upload", self.client.complete_multipart_upload,
                                        Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort(key, upload_id)
            raise
        if not written:
            self._abort(key, upload_id)
        return written

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.config.bucket, Key=key, UploadId=upload_id)
        except Exception:  # best effort: a lifecycle rule should expire incomplete uploads anyway
            pass

    # ------------------------------------------------------------------ reading and the rest
    def open(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """GET (ranged when asked) now; missing -> :class:`BlobNotFound`; the body streams in 1 MiB chunks."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Key": self.key(digest)}  # ValueError for a bad digest
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self.client.get_object(Bucket=self.config.bucket, **kwargs)["Body"]
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) in ("NoSuchKey", "404"):
                raise BlobNotFound(digest) from None
            if _status(exc) == 416:
                return iter(())
            raise self._error(exc, "get") from exc
        except Exception as exc:
            raise self._error(exc, "get") from exc
        return self._stream(body)

    def _stream(self, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK)
        except Exception as exc:
            raise self._error(exc, "read") from exc
        finally:
            body.close()

    def _head(self, digest: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        key = self.key(digest)
        try:
            return self.client.head_object(Bucket=self.config.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise self._error(exc, "head") from exc
        except Exception as exc:
            raise self._error(exc, "head") from exc

    def delete(self, digest: str) -> None:
        """DELETE the object (S3 treats a missing key as success)."""
        self._call("delete", self.client.delete_object, Key=self.key(digest))

    def exists(self, digest: str) -> bool:
        """HEAD the object."""
        return self._head(digest) is not None

    def size(self, digest: str) -> int | None:
        """``ContentLength`` from HEAD, or ``None``."""
        head = self._head(digest)
        return None if head is None else int(head["ContentLength"])

    def iter_digests(self) -> Iterator[str]:
        """List ``{prefix}`` and yield well-formed blob keys."""
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = self.config.prefix
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    rest = item["Key"][len(prefix):]
                    parts = rest.split("/")
                    if (len(parts) == 3 and _DIGEST.match(parts[2]) and parts[0] == parts[2][:2]
                            and parts[1] == parts[2][2:4]):
                        yield parts[2]
        except StorageError:
            raise
        except Exception as exc:
            raise self._error(exc, "list") from exc

    def check(self) -> None:
        """HEAD the bucket."""
        self._call("head bucket", self.client.head_bucket)
