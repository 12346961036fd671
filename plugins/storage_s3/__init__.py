"""``storage_s3``: blobs as objects in an S3 (or S3-compatible) bucket.

Configuration (``[plugins.storage_s3]``)::

    bucket = "plugdesk-files"                    # required
    prefix = "blobs/"                            # default "blobs/"
    region = "eu-central-1"                      # default "us-east-1"
    endpoint_url = "https://s3.example.com"      # optional, for S3-compatible stores
    access_key_id = { "$env" = "S3_KEY" }        # optional: without keys, boto3's default chain is used
    secret_access_key = { "$file" = "/run/secrets/s3" }
    session_token = ...                          # optional
    multipart_threshold_mb = 64                  # larger files use multipart uploads
    part_size_mb = 16                            # 5..512; memory per upload is one part
    connect_timeout = 5                          # seconds
    read_timeout = 60                            # seconds
    max_attempts = 3                             # per request, including the first

Objects are written with ``If-None-Match: *`` (an existing object is a dedup hit, 412), 409 conflicts are
retried, single-part uploads carry their SHA-256 checksum and multipart parts their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core import hookimpl
from core.types import BlobStore, PluginConfigError
from plugins.storage_s3.store import S3BlobStore, S3Config

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "storage_s3"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_INTS = {"multipart_threshold_mb": (64, 5, 5 * 1024), "part_size_mb": (16, 5, 512), "connect_timeout": (5, 1, 120),
         "read_timeout": (60, 1, 600), "max_attempts": (3, 1, 10)}
_STRS = ("bucket", "prefix", "region", "endpoint_url", "access_key_id", "secret_access_key", "session_token")

__all__ = ["S3BlobStore", "S3Config", "parse_config", "storage_backends"]


def _string(raw: Mapping[str, Any], key: str, default: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise PluginConfigError(key, "expected a string (secrets may be { \"$env\" = NAME } or { \"$file\" = path })")
    return value.strip()


@hookimpl
def parse_config(raw: Mapping[str, Any]) -> S3Config:
    """Validate ``[plugins.storage_s3]`` (see the module docstring for every key)."""
    unknown = sorted(set(raw) - set(_STRS) - set(_INTS))
    if unknown:
        raise PluginConfigError(unknown[0], f"unknown key; known keys: {', '.join(sorted((*_STRS, *_INTS)))}")
    bucket = _string(raw, "bucket")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise PluginConfigError("bucket", f"{bucket!r} is not a valid bucket name (3-63 characters: a-z, 0-9, "
                                          "'.' and '-')")
    prefix = _string(raw, "prefix", "blobs/").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    endpoint = _string(raw, "endpoint_url")
    if endpoint and not re.match(r"^https?://[^\s/]+(/.*)?$", endpoint):
        raise PluginConfigError("endpoint_url", f"{endpoint!r} is not an http(s) URL")
    key_id, secret = _string(raw, "access_key_id"), _string(raw, "secret_access_key")
    if bool(key_id) != bool(secret):
        raise PluginConfigError("secret_access_key" if key_id else "access_key_id",
                                "give both access_key_id and secret_access_key, or neither (default AWS chain)")
    ints: dict[str, int] = {}
    for key, (default, low, high) in _INTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PluginConfigError(key, f"expected an integer from {low} to {high}")
        ints[key] = value
    if ints["part_size_mb"] > ints["multipart_threshold_mb"]:
        raise PluginConfigError("part_size_mb", "must not be larger than multipart_threshold_mb")
    return S3Config(bucket=bucket, prefix=prefix, region=_string(raw, "region", "us-east-1") or "us-east-1",
                    endpoint_url=endpoint or None, access_key_id=key_id or None,
                    secret_access_key=secret or None, session_token=_string(raw, "session_token") or None,
                    multipart_threshold=ints["multipart_threshold_mb"] * 1024 * 1024,
                    part_size=ints["part_size_mb"] * 1024 * 1024, connect_timeout=ints["connect_timeout"],
                    read_timeout=ints["read_timeout"], max_attempts=ints["max_attempts"])


@hookimpl
def storage_backends(ctx: Any) -> dict[str, BlobStore]:
    """``{"s3": S3BlobStore}`` for the configured bucket (no request is made at startup)."""
    config = ctx.plugin_config(NAME)
    if not isinstance(config, S3Config):
        config = parse_config(config)
    return {"s3": S3BlobStore(config)}
