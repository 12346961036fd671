"""``storage_fs``: blobs as files in a sharded directory tree (``ab/cd/abcd…``).

Configuration (``[plugins.storage_fs]``)::

    path = "files"      # default: DATA_DIR/files; relative paths are relative to DATA_DIR

Writes go to a temp file in the blob's own directory, are fsynced, then linked into place atomically
(the directory is fsynced too), so a crash never leaves a partial blob under its final name.
Directories are 0700, files 0600.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from core import BlobStore, ConfigModel, PluginConfigError, PluginContext, explain, hookimpl, parse_plugin_config
from plugins.storage_fs.store import FsBlobStore

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "storage_fs"

__all__ = ["FsBlobStore", "parse_config", "storage_backends"]


class FsOptions(ConfigModel):
    """``[plugins.storage_fs]``."""

    path: Annotated[str, Field(pattern=r"\S", description="default DATA_DIR/files; relative to DATA_DIR"),
                    explain('expected a non-empty directory path, e.g. "files" or "/srv/plugdesk"')] = "files"


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: PluginContext) -> dict[str, Any]:
    """Validate ``[plugins.storage_fs]``: ``path`` (string); create the directory (0700) if needed."""
    options = parse_plugin_config(FsOptions, raw)
    path = Path(options.path.strip()).expanduser()
    if not path.is_absolute():
        path = ctx.settings.data_dir / path
    if path.exists() and not path.is_dir():
        raise PluginConfigError("path", f"{path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise PluginConfigError("path", f"cannot create {path}: {exc.strerror}") from None
    return {"path": path}


@hookimpl
def storage_backends(ctx: PluginContext) -> dict[str, BlobStore]:
    """``{"fs": FsBlobStore}`` rooted at the configured path."""
    return {"fs": FsBlobStore(ctx.plugin_config(NAME)["path"])}
