"""The backup archive: an uncompressed tar whose first member is ``manifest.json``.

Layout::

    manifest.json           versions, schema revision, plugins, counts, SHA-256 of every other file
    config/settings.json    the configuration with every secret replaced by "********"
    blobs.tsv               digest, size, referenced (1/0) of every blob row in the snapshot
    database/plugdesk.db    SQLite (online backup API)   or   database/plugdesk.pgdump (pg_dump -Fc)
    blobs/ab/cd/abcd...     the bytes of each blob (absent with --blobs=skip); the name is its SHA-256

Readers check the manifest first (format, schema), then every member against its checksum while they
extract it: a changed, missing or extra member refuses the whole archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

FORMAT = "plugdesk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SETTINGS = "config/settings.json"
BLOB_INDEX = "blobs.tsv"
COPY_BUFFER = 1024 * 1024
BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ArchiveError(Exception):
    """The archive cannot be used (not a plugdesk backup, tampered, incomplete); ``str()`` says why."""


def blob_member(digest: str) -> str:
    """The member name of a blob."""
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(COPY_BUFFER):
            sha.update(chunk)
    return sha.hexdigest()


class ArchiveWriter:
    """A minimal streaming tar writer (GNU format, read by ``tarfile`` and GNU tar).

    Blob files are copied into the archive with ``os.sendfile`` (no copy through Python), which is what makes a
    backup about as fast as ``tar``. It writes ``PATH.partial``, fsyncs it and renames it to ``PATH`` on
    :meth:`close`, so PATH never holds half an archive.
    """

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.progress = progress or (lambda _n: None)
        self.bytes = 0
        self._mtime = int(time.time())

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.bytes += len(data)

    def _header(self, name: str, size: int) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o600, self._mtime
        self._write(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        if size % BLOCK:
            self._write(bytes(BLOCK - size % BLOCK))

    def add_bytes(self, name: str, data: bytes) -> None:
        """Add a small member from memory."""
        self._header(name, len(data))
        self._write(data)
        self._pad(len(data))

    def add_file(self, name: str, path: Path | str, size: int | None = None) -> None:
        """Add a file; ``size`` (when given) must match what is on disk."""
        fd = os.open(path, os.O_RDONLY)
        try:
            actual = os.fstat(fd).st_size
            if size is not None and actual != size:
                raise ArchiveError(f"{name}: {actual} bytes on disk, {size} recorded; run `plugdesk storage fsck`")
            self._header(name, actual)
            sent = 0
            while sent < actual:
                n = os.sendfile(self._fd, fd, sent, min(actual - sent, 1 << 30))
                if n == 0:
                    raise ArchiveError(f"{name}: the file shrank while it was copied")
                sent += n
            self.bytes += actual
        finally:
            os.close(fd)
        self._pad(actual)
        self.progress(actual)

    def add_stream(self, name: str, chunks: Iterable[bytes], size: int) -> None:
        """Add a member from an iterator of chunks that must add up to ``size`` bytes exactly."""
        self._header(name, size)
        written = 0
        for chunk in chunks:
            written += len(chunk)
            if written > size:
                raise ArchiveError(f"{name}: the store holds more bytes than recorded; run `plugdesk storage fsck`")
            self._write(chunk)
        if written != size:
            raise ArchiveError(f"{name}: the store returned {size - written} bytes fewer than recorded")
        self._pad(size)
        self.progress(size)

    def close(self) -> None:
        """End the archive (two zero blocks, padded to a tar record), fsync it and move it into place."""
        end = self.bytes + 2 * BLOCK
        self._write(bytes(2 * BLOCK + (-end) % RECORD))
        os.fsync(self._fd)
        os.close(self._fd)
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            os.close(self._fd)
        except OSError:
            pass
        self.partial.unlink(missing_ok=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of an archive (its first member), checked for format and version."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > 64 * 1024 * 1024:
                raise ArchiveError(f"{path} is not a plugdesk backup (its first member is not {MANIFEST})")
            stream = tar.extractfile(first)
            manifest = json.loads(stream.read() if stream else b"{}")
    except (tarfile.TarError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{path} is not a readable plugdesk backup: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{path} is not a plugdesk backup (manifest format is not {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"{path} uses backup format {manifest.get('format_version')}; this plugdesk reads "
                           f"format {FORMAT_VERSION}: restore it with the plugdesk version that wrote it "
                           f"({manifest.get('plugdesk_version', '?')}) or newer")
    return manifest


def parse_blob_index(data: bytes) -> dict[str, tuple[int, bool]]:
    """``blobs.tsv`` -> ``{digest: (size, referenced)}``."""
    out: dict[str, tuple[int, bool]] = {}
    for line in data.decode("ascii").splitlines():
        digest, size, referenced = line.split("\t")
        if not _DIGEST.match(digest):
            raise ArchiveError(f"{BLOB_INDEX}: {digest!r} is not a SHA-256")
        out[digest] = (int(size), referenced == "1")
    return out


def _copy_hashing(stream: IO[bytes], target: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        while chunk := stream.read(COPY_BUFFER):
            sha.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def extract_verified(path: Path, manifest: dict[str, Any], staging: Path, blob_dir: Path,
                     progress: Callable[[int], None] | None = None) -> dict[str, tuple[int, bool]]:
    """Extract every member while checking it against the manifest; :class:`ArchiveError` on any mismatch.

    Files go to ``staging/<member>``, blob bytes to ``blob_dir/<digest>`` (a backend's temp directory, so
    they can be linked into the store). Returns the blob index.
    """
    expected: dict[str, dict[str, Any]] = dict(manifest.get("files") or {})
    included = manifest.get("storage", {}).get("blobs") == "include"
    index: dict[str, tuple[int, bool]] | None = None
    seen_blobs: set[str] = set()
    tampered = "the archive was changed after it was written (or is damaged)"
    blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            name = member.name
            if name == MANIFEST:
                continue
            if not member.isfile() or name.startswith("/") or ".." in name.split("/"):
                raise ArchiveError(f"{tampered}: unexpected member {name!r}")
            stream = tar.extractfile(member)
            assert stream is not None
            if name.startswith("blobs/"):
                digest = name.rsplit("/", 1)[-1]
                if index is None or digest not in index or not included or name != blob_member(digest):
                    raise ArchiveError(f"{tampered}: blob {name!r} is not in {BLOB_INDEX}")
                real, size = _copy_hashing(stream, blob_dir / f"restore-{digest}.tmp")
                if real != digest or size != index[digest][0]:
                    raise ArchiveError(f"{tampered}: blob {digest} hashes to {real} ({size} bytes)")
                seen_blobs.add(digest)
            else:
                spec = expected.pop(name, None)
                if spec is None:
                    raise ArchiveError(f"{tampered}: member {name!r} is not in the manifest")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                real, size = _copy_hashing(stream, target)
                if real != spec.get("sha256") or size != spec.get("size"):
                    raise ArchiveError(f"{tampered}: {name} does not match its checksum in the manifest")
                if name == BLOB_INDEX:
                    index = parse_blob_index(target.read_bytes())
            if progress:
                progress(member.size)
    if expected:
        raise ArchiveError(f"the archive is incomplete: {', '.join(sorted(expected))} missing")
    index = index or {}
    if included:
        missing = [d for d, (_size, referenced) in index.items() if referenced and d not in seen_blobs]
        if missing:
            raise ArchiveError(f"the archive is incomplete: {len(missing)} referenced blob(s) missing, "
                               f"e.g. {missing[0]}")
    return index


def to_toml(data: dict[str, Any]) -> str:
    """Render settings (tables of str/int/bool/list/nested tables) as TOML."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def table(name: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not (isinstance(v, dict) and not _inline(v))}
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in scalars.items())
        lines.append("")
        for key, sub in body.items():
            if isinstance(sub, dict) and not _inline(sub):
                table(f"{name}.{key}", sub)

    for section, body in data.items():
        table(section, body)
    return "\n".join(lines)


def _inline(v: dict[str, Any]) -> bool:
    return len(v) == 1 and next(iter(v)) in ("$env", "$file")
