"""The ingest copy: stream -> SHA-256 -> temp file, with the size limit and the content check on the way.

One preallocated 1 MiB buffer is filled with ``readinto`` (when the stream has it) and handed to the hash
and to ``os.write`` as a memoryview: no bytes object per chunk, no copy besides the kernel's. Memory stays
flat whatever the size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import IO

from core.files.rules import SNIFF_BYTES, UploadRejected

CHUNK = 1024 * 1024


def _human(n: int) -> str:
    from core.files.service import human_size

    return human_size(n)


def too_large(name: str, max_bytes: int) -> UploadRejected:
    """The 413 refusal of a file over the per-file limit."""
    return UploadRejected(413, f"{name!r} is larger than the limit of {_human(max_bytes)} ({max_bytes} bytes) "
                               "per file.")


def copy_hashed(stream: IO[bytes], fd: int, name: str, max_bytes: int | None,
                check: Callable[[str, bytes], str]) -> tuple[str, int, str]:
    """Copy ``stream`` to the open file ``fd`` (not closed here) while hashing it.

    :param name: the cleaned file name, for messages and ``check``.
    :param max_bytes: refuse with 413 as soon as more than this many bytes arrived (``None``: no limit).
    :param check: ``check(name, first_bytes)`` -> content type; called once with the first
        :data:`~core.files.rules.SNIFF_BYTES` bytes (or the whole file when shorter); raises to refuse.
    :return: ``(sha256 hex digest, size, content type)``.
    :raises UploadRejected: 413 over ``max_bytes``, or whatever ``check`` raises.
    """
    sha = hashlib.sha256()
    size = 0
    head = b""
    content_type = ""
    buffer = memoryview(bytearray(CHUNK))
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            try:
                n = readinto(buffer) or 0
            except NotImplementedError:  # an io.RawIOBase that only has read()
                if size:
                    raise
                readinto = None
                continue
            chunk = buffer[:n]
        else:
            data = stream.read(CHUNK)
            n = len(data)
            chunk = memoryview(data)
        if not n:
            break
        size += n
        if max_bytes is not None and size > max_bytes:
            raise too_large(name, max_bytes)
        if not content_type:
            head += chunk[:SNIFF_BYTES - len(head)].tobytes()
            if len(head) >= SNIFF_BYTES:
                content_type = check(name, head)
        sha.update(chunk)
        while chunk:
            chunk = chunk[os.write(fd, chunk):]
    if not content_type:
        content_type = check(name, head)
    return sha.hexdigest(), size, content_type
