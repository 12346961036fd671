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
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from core import BlobStore, ConfigModel, PluginConfigError, PluginContext, explain, hookimpl, parse_plugin_config
from plugins.storage_s3.store import S3BlobStore, S3Config

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "storage_s3"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: Strings may come from secrets: ``{ "$env" = NAME }`` or ``{ "$file" = path }``.
Text = Annotated[str, explain('expected a string (secrets may be { "$env" = NAME } or { "$file" = path })')]

__all__ = ["S3BlobStore", "S3Config", "S3Options", "parse_config", "storage_backends"]


class S3Options(ConfigModel):
    """``[plugins.storage_s3]`` as written (see the module docstring for every key)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    bucket: Annotated[Text, Field(validate_default=True)] = ""  # required: "" is refused as a bucket name
    prefix: Text = "blobs/"
    region: Text = "us-east-1"
    endpoint_url: Text = ""
    access_key_id: Text = ""
    secret_access_key: Text = ""
    session_token: Text = ""
    multipart_threshold_mb: Annotated[int, Field(ge=5, le=5 * 1024)] = 64
    part_size_mb: Annotated[int, Field(ge=5, le=512)] = 16
    connect_timeout: Annotated[int, Field(ge=1, le=120)] = 5
    read_timeout: Annotated[int, Field(ge=1, le=600)] = 60
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, bucket: str) -> str:
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ValueError(f"{bucket!r} is not a valid bucket name (3-63 characters: a-z, 0-9, '.' and '-')")
        return bucket

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        if endpoint and not re.match(r"^https?://[^\s/]+(/.*)?$", endpoint):
            raise ValueError(f"{endpoint!r} is not an http(s) URL")
        return endpoint


@hookimpl
def parse_config(raw: Mapping[str, Any]) -> S3Config:
    """Validate ``[plugins.storage_s3]`` (see the module docstring for every key)."""
    o = parse_plugin_config(S3Options, raw)
    if bool(o.access_key_id) != bool(o.secret_access_key):
        raise PluginConfigError("secret_access_key" if o.access_key_id else "access_key_id",
                                "give both access_key_id and secret_access_key, or neither (default AWS chain)")
    if o.part_size_mb > o.multipart_threshold_mb:
        raise PluginConfigError("part_size_mb", "must not be larger than multipart_threshold_mb")
    prefix = o.prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Config(bucket=o.bucket, prefix=prefix, region=o.region or "us-east-1",
                    endpoint_url=o.endpoint_url or None, access_key_id=o.access_key_id or None,
                    secret_access_key=o.secret_access_key or None, session_token=o.session_token or None,
                    multipart_threshold=o.multipart_threshold_mb * 1024 * 1024,
                    part_size=o.part_size_mb * 1024 * 1024, connect_timeout=o.connect_timeout,
                    read_timeout=o.read_timeout, max_attempts=o.max_attempts)


@hookimpl
def storage_backends(ctx: PluginContext) -> dict[str, BlobStore]:
    """``{"s3": S3BlobStore}`` for the configured bucket (no request is made at startup)."""
    config = ctx.plugin_config(NAME)
    if not isinstance(config, S3Config):
        config = parse_config(config)
    return {"s3": S3BlobStore(config)}
