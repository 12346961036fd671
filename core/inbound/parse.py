"""Raw RFC 5322 bytes to a :class:`ParsedMail`, with the standard library's ``email`` package.

The message is parsed once, with ``policy.compat32``'s parser: ``policy.default`` re-parses a header through its
registry on every access, about 1 ms per part, so a message of 10,000 parts took 9.5 s to parse instead of
0.5 s. Only From and Subject go through ``policy.default``'s header registry (RFC 2047 words, addresses), as
``EmailMessage.get`` would read them; Message-IDs and the other headers are read from the raw values. Text
parts are decoded by :func:`decode_text` (any charset, unknown ones as UTF-8), so nothing depends on the policy.

:func:`parse` never raises. Whatever the input (malformed MIME, bad base64, unknown charsets, header lines of
a megabyte, thousands of parts, nested ``message/rfc822``), it returns what it could read and lists what it
could not in ``problems``, so the poller always gets an outcome it can record.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from core.kb.sanitize import sanitize_html

#: A header field longer than this (after unfolding) is dropped before parsing and noted.
MAX_HEADER_BYTES = 64 * 1024
#: MIME nesting deeper than this is not walked.
MAX_DEPTH = 20
#: Parts looked at per message (attachments beyond ``[inbound] max_attachments`` are only counted).
MAX_PARTS = 20_000
_MSGID = re.compile(r"<[^<>\s]{1,245}>")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-6]|blockquote|pre)>|<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]*>")
_HSPACE = re.compile(r"[ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n\s*\n+")


@dataclass
class Part:
    """An attachment (or inline image) of the message."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False


@dataclass
class Bounce:
    """What a delivery status notification says about a message we sent."""

    original_ids: list[str]
    status: str
    diagnostic: str

    @property
    def permanent(self) -> bool:
        """A 5.x.x status (the address does not work), as opposed to a delay (4.x.x)."""
        return self.status.startswith("5")


@dataclass
class ParsedMail:
    """The parts of an email ingest needs; strings are decoded and cleaned of control characters."""

    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Part] = field(default_factory=list)
    extra_attachments: int = 0
    bounce: Bounce | None = None
    problems: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        """A header's (first) value, ``""`` when absent; ``name`` is case-insensitive."""
        return self.headers.get(name.lower(), "")


def clean(value: str, limit: int) -> str:
    """Control characters removed, whitespace collapsed, at most ``limit`` characters."""
    return " ".join(_CTRL.sub(" ", value).split())[:limit]


def message_ids(value: str) -> list[str]:
    """Every ``<...>`` Message-ID in a header value, in order, without duplicates."""
    seen: list[str] = []
    for mid in _MSGID.findall(value or ""):
        if mid not in seen:
            seen.append(mid)
    return seen


def drop_long_headers(raw: bytes, problems: list[str]) -> bytes:
    """Remove header fields longer than :data:`MAX_HEADER_BYTES` (the parser is slow on them); note each."""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf != -1 and (end == -1 or crlf < end):
        end = crlf
    head, body = (raw, b"") if end == -1 else (raw[:end + 1], raw[end + 1:])
    if len(head) <= MAX_HEADER_BYTES:
        return raw
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept = []
    for lines in fields:
        size = sum(len(x) for x in lines)
        if size > MAX_HEADER_BYTES:
            name = lines[0].split(b":", 1)[0][:60].decode("ascii", "replace")
            problems.append(f"header {name!r} of {size:,} bytes was dropped")
        else:
            kept.extend(lines)
    return b"".join(kept) + body


def _registry_header(name: str, raw_value: str | None) -> str:
    """A raw header value read by ``policy.default``'s header registry (RFC 2047 words, addresses), as
    ``EmailMessage.get`` would; the raw value itself when the registry cannot read it."""
    if raw_value is None:
        return ""
    try:
        return str(policy.default.header_fetch_parse(name, raw_value))
    except Exception:
        return str(raw_value)


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def decode_text(data: bytes, charset: str | None, problems: list[str]) -> str:
    """Bytes of a text part in its declared charset; unknown charsets fall back to UTF-8 (noted)."""
    name = (charset or "us-ascii").strip().strip('"').lower() or "us-ascii"
    try:
        codecs.lookup(name)
    except LookupError:
        problems.append(f"unknown charset {name[:40]!r}; read as UTF-8")
        name = "utf-8"
    try:
        return data.decode(name, errors="replace")
    except Exception:
        return data.decode("utf-8", errors="replace")


def html_to_plain(raw_html: str) -> str:
    """Text of an HTML body: sanitized with core's sanitizer first, block ends kept as line breaks."""
    import html as html_lib

    safe = sanitize_html(raw_html)
    text = html_lib.unescape(_TAG.sub("", _BLOCK_END.sub("\n", safe)))
    lines = [_HSPACE.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _leaves(part: Message, depth: int, out: list[Message], problems: list[str]) -> None:
    if len(out) >= MAX_PARTS:
        return
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        if depth >= MAX_DEPTH:
            problems.append(f"MIME nesting deeper than {MAX_DEPTH} levels was not read")
            return
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _leaves(sub, depth + 1, out, problems)
        return
    out.append(part)


def _payload(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        try:
            inner = part.get_payload(0) if part.is_multipart() else part.get_payload()
            if isinstance(inner, Message):
                return inner.as_bytes(policy=policy.compat32)
        except Exception:
            pass
        try:
            return part.as_bytes(policy=policy.compat32)
        except Exception:
            return str(part.get_payload()).encode("utf-8", "replace")
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
        "message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html", "application/pdf": ".pdf"}


def _filename(part: Message, number: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        return clean(_decoded(str(name)), 200)
    ctype = part.get_content_type()
    return f"attachment-{number}{_EXT.get(ctype, '.bin')}"


def _bounce(msg: Message, leaves: list[Message]) -> Bounce | None:
    if msg.get_content_type() != "multipart/report":
        return None
    status = diagnostic = ""
    ids: list[str] = []
    for part in leaves:
        ctype = part.get_content_type()
        try:
            text = part.as_bytes(policy=policy.compat32).decode("utf-8", "replace")
        except Exception:
            continue
        if ctype == "message/delivery-status":
            found = re.search(r"^Status:\s*([245]\.\d{1,3}\.\d{1,3})", text, re.M | re.I)
            status = found.group(1) if found else status
            diag = re.search(r"^Diagnostic-Code:\s*(.+)$", text, re.M | re.I)
            diagnostic = clean(diag.group(1), 500) if diag else diagnostic
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            found = re.search(r"^Message-ID:\s*(<[^<>\s]+>)", text, re.M | re.I)
            if found:
                ids.append(found.group(1))
    return Bounce(ids, status or "5.0.0", diagnostic) if ids else None


def parse(raw: bytes, headers_only: bool = False, max_attachments: int = MAX_PARTS) -> ParsedMail:
    """Parse ``raw``; never raises. ``headers_only`` skips the body (a message too large to ingest); attachments
    after the first ``max_attachments`` are only counted (``extra_attachments``)."""
    out = ParsedMail()
    raw = drop_long_headers(raw, out.problems)
    # One parse (compat32: see the module docstring); the header registry reads only From and Subject.
    tree: Message | None = None
    if not headers_only:
        try:
            tree = BytesParser(policy=policy.compat32).parsebytes(raw)
        except Exception as exc:  # pragma: no cover - the parser is lenient; a last resort
            out.problems.append(f"unreadable body: {exc.__class__.__name__}")
    try:
        msg = tree if tree is not None else BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    except Exception as exc:  # the parser is lenient; this is a last resort
        out.problems.append(f"unreadable message: {exc.__class__.__name__}")
        return out
    # Raw values (unfolded) for everything but Subject and From: the header registry costs ~0.2 ms a field.
    raw_values: dict[str, str] = {}
    first: dict[str, str] = {}
    for key, value in msg.raw_items():
        first.setdefault(key.lower(), value)
        raw_values.setdefault(key.lower(), re.sub(r"\r?\n(?=[ \t])", "", str(value)))
    for name in ("auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
                 "list-id", "return-path", "x-plugdesk-ticket", "x-loop"):
        if raw_values.get(name):
            out.headers[name] = clean(raw_values[name], 300)
    ids = message_ids(raw_values.get("message-id", ""))
    out.message_id = ids[0] if ids else ""
    out.in_reply_to = message_ids(raw_values.get("in-reply-to", ""))[:20]
    out.references = message_ids(raw_values.get("references", ""))[-50:]
    name, addr = parseaddr(_registry_header("from", first.get("from")).replace("\n", " "))
    out.sender, out.sender_name = clean(addr, 320).lower(), clean(_decoded(name), 150)
    recipients = [raw_values.get(h, "") for h in ("to", "cc", "delivered-to")]
    out.recipients = [clean(a, 320).lower() for _n, a in getaddresses([r for r in recipients if r]) if a][:100]
    out.subject = clean(_registry_header("subject", first.get("subject")), 300)
    if tree is None:
        return out
    for defect in list(getattr(tree, "defects", []))[:5]:
        out.problems.append(f"MIME problem: {defect.__class__.__name__}")
    leaves: list[Message] = []
    _leaves(tree, 0, leaves, out.problems)
    out.bounce = _bounce(tree, leaves)
    _body_and_attachments(leaves, out, max_attachments)
    return out


def _body_and_attachments(leaves: list[Message], out: ParsedMail, limit: int) -> None:
    plain = html = None
    files: list[Message] = []
    for part in leaves:
        try:
            disposition = part.get_content_disposition()
        except Exception:
            disposition = None
        ctype = part.get_content_type()
        if disposition != "attachment" and ctype == "text/plain" and plain is None:
            plain = part
        elif disposition != "attachment" and ctype == "text/html" and html is None:
            html = part
        elif ctype not in ("message/delivery-status",) and not (disposition != "attachment" and
                                                                ctype.startswith("text/")):
            files.append(part)
    body = ""
    try:
        if plain is not None:
            body = decode_text(_payload(plain), plain.get_content_charset(), out.problems)
        elif html is not None:
            body = html_to_plain(decode_text(_payload(html), html.get_content_charset(), out.problems))
    except Exception as exc:
        out.problems.append(f"body unreadable: {exc.__class__.__name__}")
    out.text = body.replace("\r\n", "\n").replace("\x00", "")
    for number, part in enumerate(files, 1):
        if len(out.attachments) >= limit:
            out.extra_attachments += 1
            continue
        try:
            data = _payload(part)
        except Exception as exc:
            out.problems.append(f"attachment {number} unreadable: {exc.__class__.__name__}")
            continue
        out.attachments.append(Part(_filename(part, number), part.get_content_type(), data,
                                    inline=bool(part.get("content-id"))))
