"""The filesystem blob store."""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core import BlobNotFound, BlobStore, StorageError, StorageUnavailable

CHUNK = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
    return digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore(BlobStore):
    """Blobs under ``root/ab/cd/<digest>``; temp files are ``.tmp-*`` and never listed."""

    name = "fs"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._staging = self.root / ".staging"

    def path(self, digest: str) -> Path:
        """Where ``digest`` lives (the name comes only from the digest, never from user input)."""
        _check_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def _shard(self, digest: str) -> Path:
        directory = self.path(digest).parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._error(exc) from exc
        return directory

    @staticmethod
    def _error(exc: OSError) -> StorageError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOENT, errno.EACCES):
            return StorageUnavailable(f"file store: {exc.strerror}: {exc.filename or ''}")
        return StorageError(f"file store: {exc}")

    def _publish(self, tmp: Path, final: Path) -> bool:
        """Link ``tmp`` to ``final`` atomically; ``False`` if ``final`` already existed."""
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
                raise
            if final.exists():
                return False
            os.replace(tmp, final)  # same content under the same name: replacing is harmless
        _fsync_dir(final.parent)
        return True

    def put(self, digest: str, stream: BinaryIO, size: int) -> bool:
        """Copy ``stream`` to a temp file in the shard directory, fsync, link into place."""
        final = self.path(digest)
        if final.exists():
            return False
        directory = self._shard(digest)
        tmp = directory / f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            return self._publish(tmp, final)
        except OSError as exc:
            raise self._error(exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, digest: str, path: Path, size: int) -> bool:
        """Fsync core's temp file (written in :meth:`temp_dir`, same filesystem) and hard-link it into place."""
        final = self.path(digest)
        if final.exists():
            return False
        try:
            if Path(path).parent != self._staging:
                with open(path, "rb") as stream:
                    return self.put(digest, stream, size)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(path, 0o600)
            return self._publish(Path(path), self._shard(digest) / final.name)
        except OSError as exc:
            raise self._error(exc) from exc

    def temp_dir(self) -> Path:
        """``root/.staging`` (same filesystem as the blobs, so put_file can link)."""
        return self._staging

    def open(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Open now (missing -> :class:`BlobNotFound`), then stream ``start..end`` in 1 MiB chunks."""
        try:
            handle = open(self.path(digest), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        except OSError as exc:
            raise self._error(exc) from exc
        return self._read(handle, start, end)

    @staticmethod
    def _read(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, digest: str) -> None:
        """Unlink the blob (missing is fine) and fsync its directory."""
        path = self.path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error(exc) from exc
        _fsync_dir(path.parent)

    def exists(self, digest: str) -> bool:
        """Whether the blob file exists."""
        return self.path(digest).is_file()

    def size(self, digest: str) -> int | None:
        """``stat`` size, or ``None``."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def iter_digests(self) -> Iterator[str]:
        """Walk the two shard levels; only well-formed names in the right shard are yielded."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if len(second.name) != 2 or not second.is_dir():
                    continue
                for entry in sorted(second.iterdir()):
                    name = entry.name
                    if _DIGEST.match(name) and name[:2] == first.name and name[2:4] == second.name:
                        yield name

    def check(self) -> None:
        """The root must be a writable directory."""
        if not self.root.is_dir():
            raise StorageUnavailable(f"file store {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"file store {self.root} is not writable")
