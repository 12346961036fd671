"""A multipart file part written once: into the blob store's temp directory, hashed while Werkzeug writes it.

Werkzeug's form parser writes each file part of a ``multipart/form-data`` body into a temporary file, and
:meth:`core.files.service.FileService.ingest` then read that file again, hashed it and wrote it a second time
into the store's temp directory: two writes and a read of every byte of a browser upload (a third of the
multipart path's time once the body came straight from the socket, issue 22). :class:`HashingSpool` is the
file Werkzeug writes instead (:meth:`core.files.body.FastBodyRequest._get_file_stream`): it lives where
``ingest`` would have put its copy, and it hashes and keeps the first bytes as they are written, so ``ingest``
applies the same rules (size limit, content signature) and hands the file itself to the store.

A spool read by anyone before ``ingest`` (or written out of order) is an ordinary temp file again: ``ingest``
copies it as before. A spool nobody adopted is deleted when it is closed (Werkzeug closes a request's files at
its end) or garbage-collected (a body cut off in the middle of a part).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from core.files.rules import SNIFF_BYTES


class HashingSpool(io.RawIOBase):
    """A readable, writable, seekable temp file that hashes what is appended to it (see the module)."""

    def __init__(self, fd: int, path: Path, owner: object) -> None:
        super().__init__()
        self._file = io.FileIO(fd, "w+b")
        self.path = path
        self._owner = owner
        self._sha = hashlib.sha256()
        self._head = bytearray()
        self.size = 0
        self._plain = False  # read before adoption, or written out of order: no longer adoptable
        self._adopted = False

    def readable(self) -> bool:
        """``True``."""
        return True

    def writable(self) -> bool:
        """``True``."""
        return True

    def seekable(self) -> bool:
        """``True``."""
        return True

    def write(self, data: Any) -> int:
        """Append ``data`` (hashed on the way)."""
        view = memoryview(data).cast("B")
        if self._file.tell() != self.size:
            self._plain = True
        done = 0
        while done < len(view):
            done += self._file.write(view[done:]) or 0
        if not self._plain:
            self._sha.update(view)
            if len(self._head) < SNIFF_BYTES:
                self._head += view[:SNIFF_BYTES - len(self._head)]
        self.size = max(self.size, self._file.tell())
        return done

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` (the spool is then copied by ``ingest`` like any stream)."""
        self._plain = True
        return self._file.readinto(buffer) or 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the file position."""
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        """The file position."""
        return self._file.tell()

    def fileno(self) -> int:
        """The file descriptor."""
        return self._file.fileno()

    def adopt(self, owner: object) -> tuple[str, int, bytes, Path] | None:
        """``(sha256 hex digest, size, first bytes, path)`` of the whole file, which from now on belongs to the
        caller (closing the spool no longer deletes it); ``None`` when this spool cannot be adopted by
        ``owner`` (another service's, read or rewritten since, or closed)."""
        if owner is not self._owner or self._plain or self.closed or self._adopted:
            return None
        self._file.close()
        self._adopted = True
        return self._sha.hexdigest(), self.size, bytes(self._head), self.path

    def close(self) -> None:
        """Close the file; delete it unless it was adopted."""
        if self.closed:
            return
        try:
            self._file.close()
            if not self._adopted:
                self.path.unlink(missing_ok=True)
        finally:
            super().close()
