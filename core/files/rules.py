"""Upload rules: display names, allowed extensions, magic-byte sniffing, safe download types.

Everything here is pure (no I/O) so the rules are easy to test and to reuse. The sniffing table is
deliberately small: it recognises the formats a help desk sees every day and every executable format,
and refuses a file whose content contradicts its extension (an executable named ``.jpg``, an HTML page
named ``.png``). Content core cannot recognise is accepted for extensions that have no signature
(``.txt``, ``.csv``, ...) unless it is an executable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_NAME_BYTES = 255
SNIFF_BYTES = 4096

# C0/C1 controls, DEL, and the Unicode bidi embedding/override/isolate controls used to disguise names
# (``invoice\u202egnp.exe`` shows as ``invoiceexe.png``).
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]")


class UploadRejected(Exception):
    """An upload was refused; ``status`` is the HTTP status to answer with and ``message`` says why.

    :param status: 400 (bad name or body), 413 (too large), 415 (type not allowed).
    :param message: one sentence for the user, naming the file and the rule.
    :param field: the form field the file came from.
    """

    def __init__(self, status: int, message: str, field: str = "files") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


# ----------------------------------------------------------------------------- names


def display_name(raw: str | None) -> str:
    """Clean an uploaded filename for display; raise :class:`UploadRejected` (400) if nothing is left.

    The last path component is kept (browsers and mail clients send ``C:\\dir\\a.pdf`` or ``a/b.pdf``),
    the name is NFC-normalised, trailing dots and spaces are stripped (Windows drops them, so ``x.pdf.``
    *is* ``x.pdf``), and names over 255 UTF-8 bytes are shortened in the middle, keeping the extension.
    Names with control characters (NUL, ...) or bidi overrides are refused: they exist to deceive.
    The result is only ever shown to people; it is never used as a path.
    """
    name = unicodedata.normalize("NFC", raw or "")
    if _FORBIDDEN.search(name):
        raise UploadRejected(400, "The file name contains control or text-direction characters; rename the "
                                  "file and upload it again.")
    name = re.split(r"[/\\]", name)[-1].strip().rstrip(". ")
    if name in ("", ".", ".."):
        raise UploadRejected(400, "The file has no name; rename it and upload it again.")
    return _shorten(name)


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    ext = extension(name)
    if len(ext.encode("utf-8")) > 32:
        ext = ""
    stem = name[: len(name) - len(ext)] if ext else name
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8")) - len("…".encode())
    cut = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return f"{cut}…{ext}"


def extension(name: str) -> str:
    """The last extension of a cleaned name, lower-cased, with the dot (``""`` when there is none).

    Unlike :func:`os.path.splitext` a leading dot counts: ``.PhP`` has the extension ``.php``.
    """
    name = name.rstrip(". ")
    dot = name.rfind(".")
    return name[dot:].lower() if dot != -1 and dot < len(name) - 1 else ""


def extension_allowed(ext: str, allowed: list[str]) -> bool:
    """Tell whether ``ext`` is in an allow-list from ``security.uploads.*`` (``*`` allows all)."""
    return "*" in allowed or (bool(ext) and ext in allowed)


# ----------------------------------------------------------------------------- sniffing


def sniff(head: bytes) -> str | None:
    """Name the format of content starting with ``head`` (at least 4 KiB when the file is that long).

    :return: a short format name (``"png"``, ``"pe"``, ...), ``"empty"``, or ``None`` when unknown.
    """
    if not head:
        return "empty"
    for kind, offset, magic in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return kind
    if head[:2] == b"MZ" and len(head) >= 64:
        pointer = int.from_bytes(head[60:64], "little")
        if pointer + 4 <= len(head) and head[pointer:pointer + 4] == b"PE\x00\x00":
            return "pe"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "heic" if head[8:12] in (b"heic", b"heix", b"mif1", b"msf1") else "mp4"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                    b"\xca\xfe\xba\xbe"):
        return "macho"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml")):
        return "svg" if b"<svg" in text[:1024] else "markup"
    return None


_SIGNATURES: tuple[tuple[str, int, bytes], ...] = (
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("gif", 0, b"GIF87a"),
    ("gif", 0, b"GIF89a"),
    ("tiff", 0, b"II*\x00"),
    ("tiff", 0, b"MM\x00*"),
    ("ico", 0, b"\x00\x00\x01\x00"),
    ("pdf", 0, b"%PDF-"),
    ("zip", 0, b"PK\x03\x04"),
    ("zip", 0, b"PK\x05\x06"),
    ("gzip", 0, b"\x1f\x8b"),
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
    ("rar", 0, b"Rar!\x1a\x07"),
    ("ole", 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    ("rtf", 0, b"{\\rtf"),
    ("elf", 0, b"\x7fELF"),
    ("script", 0, b"#!"),
    ("wasm", 0, b"\x00asm"),
    ("java", 0, b"\xca\xfe\xba\xbe"),
    ("mp3", 0, b"ID3"),
    ("ogg", 0, b"OggS"),
)

#: Formats that run code when opened on some system: refused unless the extension says so.
EXECUTABLE_KINDS = frozenset({"pe", "elf", "macho", "script", "wasm", "java"})
EXECUTABLE_EXTENSIONS = frozenset({".exe", ".dll", ".com", ".scr", ".sys", ".cpl", ".ocx", ".efi", ".msi",
                                   ".bin", ".elf", ".so", ".o", ".dylib", ".out", ".run", ".appimage",
                                   ".sh", ".bash", ".py", ".pl", ".rb", ".wasm", ".class", ".jar"})

#: Extensions whose content must carry one of these signatures (the type we then serve).
EXPECTED: dict[str, tuple[frozenset[str], str]] = {
    ".png": (frozenset({"png"}), "image/png"),
    ".jpg": (frozenset({"jpeg"}), "image/jpeg"),
    ".jpeg": (frozenset({"jpeg"}), "image/jpeg"),
    ".jpe": (frozenset({"jpeg"}), "image/jpeg"),
    ".gif": (frozenset({"gif"}), "image/gif"),
    ".webp": (frozenset({"webp"}), "image/webp"),
    ".bmp": (frozenset({"bmp"}), "image/bmp"),
    ".tif": (frozenset({"tiff"}), "image/tiff"),
    ".tiff": (frozenset({"tiff"}), "image/tiff"),
    ".ico": (frozenset({"ico", "png"}), "image/vnd.microsoft.icon"),
    ".heic": (frozenset({"heic"}), "image/heic"),
    ".pdf": (frozenset({"pdf"}), "application/pdf"),
    ".zip": (frozenset({"zip"}), "application/zip"),
    ".docx": (frozenset({"zip"}), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ".xlsx": (frozenset({"zip"}), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".pptx": (frozenset({"zip"}), "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ".odt": (frozenset({"zip"}), "application/vnd.oasis.opendocument.text"),
    ".ods": (frozenset({"zip"}), "application/vnd.oasis.opendocument.spreadsheet"),
    ".doc": (frozenset({"ole"}), "application/msword"),
    ".xls": (frozenset({"ole"}), "application/vnd.ms-excel"),
    ".ppt": (frozenset({"ole"}), "application/vnd.ms-powerpoint"),
    ".msg": (frozenset({"ole"}), "application/vnd.ms-outlook"),
    ".gz": (frozenset({"gzip"}), "application/gzip"),
    ".tgz": (frozenset({"gzip"}), "application/gzip"),
    ".7z": (frozenset({"7z"}), "application/x-7z-compressed"),
    ".rar": (frozenset({"rar"}), "application/vnd.rar"),
    ".rtf": (frozenset({"rtf"}), "application/rtf"),
    ".mp3": (frozenset({"mp3"}), "audio/mpeg"),
    ".mp4": (frozenset({"mp4"}), "video/mp4"),
    ".exe": (frozenset({"pe"}), "application/vnd.microsoft.portable-executable"),
    ".dll": (frozenset({"pe"}), "application/vnd.microsoft.portable-executable"),
}

#: Extensions without a signature: any content is accepted unless it is a known *other* binary format.
TEXT_TYPES: dict[str, str] = {
    ".txt": "text/plain", ".log": "text/plain", ".csv": "text/csv", ".md": "text/markdown",
    ".json": "application/json", ".xml": "application/xml", ".eml": "message/rfc822", ".ics": "text/calendar",
    ".html": "text/html", ".htm": "text/html", ".svg": "image/svg+xml", ".yaml": "application/yaml",
    ".yml": "application/yaml", ".ini": "text/plain", ".conf": "text/plain", ".cfg": "text/plain",
}
_MARKUP_OK = frozenset({".html", ".htm", ".xml", ".svg", ".txt", ".log", ".md", ".eml"})
_TYPE_OF_KIND = {kind: ctype for _ext, (kinds, ctype) in EXPECTED.items() for kind in kinds}
_TYPE_OF_KIND.update({"zip": "application/zip", "pe": "application/vnd.microsoft.portable-executable",
                      "elf": "application/x-executable", "macho": "application/x-mach-binary",
                      "script": "text/x-script", "markup": "text/html", "svg": "image/svg+xml"})

#: Types a browser may show inline (raster images only: no SVG, no HTML, no PDF).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
#: Types served under their own name; everything else is served as application/octet-stream.
SERVED_TYPES = INLINE_TYPES | {"application/pdf", "text/plain", "text/csv", "application/zip", "image/tiff",
                               "application/json", "audio/mpeg", "video/mp4"}


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check_content`: the detected type, or why the file is refused."""

    content_type: str
    problem: str = ""


def check_content(name: str, head: bytes) -> Verdict:
    """Compare the first bytes of a file with its (cleaned) name's extension.

    :return: the content type to record, or a :class:`Verdict` with ``problem`` set when the content
        contradicts the extension.
    """
    ext = extension(name)
    kind = sniff(head)
    if kind in EXECUTABLE_KINDS and ext not in EXECUTABLE_EXTENSIONS:
        return Verdict("", f"{name!r} is an executable program, which does not match its extension "
                           f"{ext or '(none)'}.")
    if ext in EXPECTED:
        kinds, ctype = EXPECTED[ext]
        if kind not in kinds:
            seen = "empty" if kind == "empty" else f"{kind} data" if kind else "not recognisable"
            return Verdict("", f"The content of {name!r} is {seen}, not the {ext} file its name says.")
        return Verdict(ctype)
    if ext in TEXT_TYPES:
        if kind in (None, "empty") or kind in ("markup", "svg") and ext in _MARKUP_OK:
            return Verdict(TEXT_TYPES[ext])
        return Verdict("", f"The content of {name!r} is {kind} data, not the {ext} file its name says.")
    if kind in (None, "empty"):
        return Verdict("application/octet-stream")
    return Verdict(_TYPE_OF_KIND.get(kind, "application/octet-stream"))


def served_type(content_type: str) -> str:
    """The ``Content-Type`` a download is served with (unknown or risky types become octet-stream)."""
    if content_type in ("text/plain", "text/csv"):
        return f"{content_type}; charset=utf-8"
    return content_type if content_type in SERVED_TYPES else "application/octet-stream"


def content_disposition(filename: str, content_type: str) -> str:
    """An RFC 6266 ``Content-Disposition``: ``inline`` only for :data:`INLINE_TYPES`.

    The quoted ``filename`` is an ASCII fallback; ``filename*`` carries the UTF-8 name (RFC 8187).
    """
    from urllib.parse import quote

    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    clean = _FORBIDDEN.sub("", filename) or "download"
    ascii_name = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r'[\\"%;]', "_", ascii_name).strip() or "download"
    value = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != clean:
        value += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return value
