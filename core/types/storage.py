"""Blob stores (file storage backends) and their errors.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class StorageError(Exception):
    """A blob store failed (misconfiguration, refused request). The web layer answers 503."""


class StorageUnavailable(StorageError):
    """The blob store cannot be reached right now (connection refused, timeout, 5xx). Answered with 503."""


class BlobNotFound(LookupError):
    """The requested digest is not stored."""


class BlobStore(abc.ABC):
    """Stores bytes by their SHA-256 hex digest and nothing else (single choice: ``[storage] backend``).

    Core hashes, counts references and decides when to delete; a backend only moves bytes. Digests are
    64 lower-case hex characters, already verified by core: a backend never hashes to decide a name.

    Rules every backend follows (checked by :class:`core.contracts.storage.StorageBackendContract`):

    * ``put``/``put_file`` are idempotent and atomic: readers see all of the object or nothing, and a
      second put of an existing digest changes nothing and returns ``False``.
    * ``open`` streams (bounded memory) and supports byte ranges; a missing digest raises
      :class:`BlobNotFound` *when ``open`` is called* (not on first iteration), so callers can answer 404
      before sending headers.
    * Failures to reach the store raise :class:`StorageUnavailable`; other failures :class:`StorageError`.

    Attributes:
        name: the name admins choose it by (``[storage] backend``); the key your ``storage_backends``
            returns it under.
    """

    name: str = ""

    @abc.abstractmethod
    def put(self, digest: str, stream: BinaryIO, size: int) -> bool:
        """Store ``size`` bytes read from ``stream`` under ``digest``; idempotent.

        :return: ``True`` if written, ``False`` if the digest was already stored (a dedup hit).
        """

    def put_file(self, digest: str, path: Path, size: int) -> bool:
        """Store the complete file at ``path`` (a temp file core wrote and hashed) under ``digest``.

        Core keeps ``path`` and deletes it afterwards; a backend may hard-link it into place but must not
        move it away. The default opens the file and calls :meth:`put`.

        :return: ``True`` if written, ``False`` if the digest was already stored.
        """
        with open(path, "rb") as stream:
            return self.put(digest, stream, size)

    def temp_dir(self) -> Path | None:
        """Where core should write upload temp files (same filesystem as the store lets ``put_file``
        link instead of copying), or ``None`` for core's own temp directory."""
        return None

    @abc.abstractmethod
    def open(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``digest`` from offset ``start`` to ``end`` (inclusive; ``None`` = last byte).

        :raises BlobNotFound: when the digest is not stored (raised by the call itself).
        """

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove ``digest``; deleting a missing digest is not an error."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Tell whether ``digest`` is stored."""

    def size(self, digest: str) -> int | None:
        """The stored size of ``digest`` in bytes, or ``None`` when it is not stored.

        The default reads the object; backends should override it with a metadata lookup.
        """
        if not self.exists(digest):
            return None
        return sum(len(chunk) for chunk in self.open(digest))

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Yield every stored digest (for fsck and migration); temp files are never yielded."""

    def check(self) -> None:  # noqa: B027 - optional hook with a safe default
        """Raise if the backend cannot be reached (used by ``/healthz``)."""
