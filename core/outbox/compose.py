"""Build outgoing messages safely: header values that cannot carry CR/LF, checked addresses, RFC 2047 names,
threading headers, plain text always plus an HTML alternative rendered from a template.

The web processes only check addresses and queue rows; the MIME machinery (``email.policy``,
``email.headerregistry``, ``email.mime``, the generator) is imported when a message is built, by the
background worker, so gunicorn workers do not carry it (issue 22).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:  # pragma: no cover
    from email.headerregistry import Address

SUBJECT_MAX = 250
NAME_MAX = 120
ADDRESS_MAX = 254
#: Extra headers a caller may set on a message (anything else is refused).
ALLOWED_HEADERS = ("In-Reply-To", "References", "Reply-To", "Auto-Submitted", "X-Auto-Response-Suppress",
                   "List-Id", "X-Plugdesk-Ticket")
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOCAL_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "mail"
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable bodies (base64 is the stdlib default for UTF-8)


class InvalidAddress(ValueError):
    """An address that cannot be used as a recipient (the message says why, without echoing control chars)."""


def one_line(value: Any) -> str:
    """``value`` as one line: every control character (CR/LF!) and line/paragraph separator becomes a space
    and runs of white space collapse. For single-line input that later reaches a header (ticket subjects)."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(value or ""))
    return " ".join(text.split())


def clean_header_text(value: Any, limit: int) -> str:
    """One line of header text (:func:`one_line`), cut to ``limit`` characters (with an ellipsis)."""
    text = one_line(value)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def check_address(value: Any) -> str:
    """Return a usable ``local@domain`` address or raise :class:`InvalidAddress`.

    Refused: empty, control characters (CR/LF!), white space, more or fewer than one ``@`` outside a
    quoted local part, over-long parts, a domain that is not a host name. Non-ASCII is accepted in the
    domain (IDNA) and the local part (sent with SMTPUTF8 when the server offers it).
    """
    addr = str(value or "").strip()
    if not addr:
        raise InvalidAddress("no recipient address")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Zs") for ch in addr):
        raise InvalidAddress("the recipient address contains white space or control characters")
    if len(addr) > ADDRESS_MAX or addr.count("@") != 1:
        raise InvalidAddress("the recipient address is not of the form name@domain")
    local, domain = addr.split("@")
    if not local or len(local) > 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidAddress("the recipient address has an invalid local part")
    if any(ch in '<>()[]\\,;:"' for ch in local) or (local.isascii() and not _LOCAL_ATOM.match(local)):
        raise InvalidAddress("the recipient address has characters not allowed in an address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise InvalidAddress("the recipient domain is not a valid host name") from None
    labels = ascii_domain.rstrip(".").split(".")
    if not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise InvalidAddress("the recipient domain is not a valid host name")
    return f"{local}@{ascii_domain.rstrip('.')}"


def format_address(name: str, addr: str) -> Address:
    """An address header value; a non-ASCII display name is RFC 2047 encoded when serialised."""
    from email.headerregistry import Address

    local, domain = check_address(addr).split("@")
    return Address(display_name=clean_header_text(name, NAME_MAX), username=local, domain=domain)


def needs_smtputf8(*addresses: str) -> bool:
    """True when an address has a non-ASCII local part (the message must go out with SMTPUTF8)."""
    return any(not a.split("@")[0].isascii() for a in addresses if a)


def parse_sender(value: str) -> tuple[str, str]:
    """``[mail] sender`` as (display name, address): ``help@example.com`` or ``Help Desk <help@example.com>``."""
    name, addr = parseaddr(clean_header_text(value, 400))
    return name, addr or "plugdesk@localhost"


def message_id(domain: str, prefix: str = "") -> str:
    """A new globally unique Message-ID ``<prefix.random@domain>``."""
    return f"<{prefix}{secrets.token_hex(12)}@{domain}>"


def ticket_root_id(ticket_id: int, domain: str, secret: str) -> str:
    """The stable Message-ID every notification of a ticket refers to (signed: replies can be checked)."""
    sig = hmac.new(secret.encode(), f"ticket:{ticket_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"<ticket-{ticket_id}.{sig}@{domain}>"


def ticket_subject(ticket_id: int, subject: str) -> str:
    """``subject`` with the ticket number ``[#ID]`` in front unless it already carries it."""
    tag = f"[#{ticket_id}]"
    subject = clean_header_text(subject, SUBJECT_MAX)
    return subject if tag in subject else clean_header_text(f"{tag} {subject}", SUBJECT_MAX)


def mail_domain(sender: str, base_url: str) -> str:
    """The domain of Message-IDs: the sender's, else the host of ``base_url``, else ``localhost``."""
    addr = parse_sender(sender)[1]
    domain = addr.rsplit("@", 1)[-1] if "@" in addr else ""
    if not domain:
        domain = re.sub(r"^[a-z]+://", "", base_url).split("/")[0].split(":")[0]
    return clean_header_text(domain, 200).replace(" ", "") or "localhost"


def text_to_html(text: str) -> Markup:
    """Paragraphs of escaped text with line breaks kept and http(s) URLs made links."""
    parts = []
    for para in re.split(r"\n\s*\n", text.strip()):
        out, pos = [], 0
        for match in _URL.finditer(para):
            out.append(str(escape(para[pos:match.start()])))
            url = escape(match.group(0))
            out.append(f'<a href="{url}">{url}</a>')
            pos = match.end()
        out.append(str(escape(para[pos:])))
        parts.append("<p>" + "".join(out).replace("\n", "<br>\n") + "</p>")
    return Markup("\n".join(parts))


@lru_cache(maxsize=1)
def _jinja() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True))


def render_html(text: str, subject: str, footer: str = "") -> str:
    """The HTML alternative of a message, from ``templates/mail/message.html``."""
    return _jinja().get_template("message.html").render(subject=subject, body=text_to_html(text), footer=footer)


def _extra_headers(headers: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Whitelisted extra headers as (name, cleaned value); ``Reply-To`` as (display name, address)."""
    out: list[tuple[str, Any]] = []
    for name, value in (headers or {}).items():
        if name not in ALLOWED_HEADERS or value in (None, "", []):
            continue
        if name == "Reply-To":
            reply = value if isinstance(value, Sequence) and not isinstance(value, str) else ("", value)
            out.append((name, (clean_header_text(reply[0], NAME_MAX), check_address(reply[1]))))
        elif name == "References":
            refs = value if isinstance(value, list) else str(value).split()
            out.append((name, " ".join(clean_header_text(r, 250).replace(" ", "") for r in refs)))
        else:
            out.append((name, clean_header_text(value, 500)))
    return out


def build_message(*, sender: str, sender_name: str, to_addr: str, to_name: str, subject: str, text: str,
                  html: str | None, msg_id: str, headers: Mapping[str, Any] | None = None,
                  date: float | None = None) -> bytes:
    """The complete message as it goes on the wire (CRLF line ends, RFC 2047 for non-ASCII header text,
    quoted-printable UTF-8 bodies): ``text/plain`` always, plus an HTML alternative (``html``, or rendered
    from ``text`` by ``templates/mail/message.html`` when ``None``; ``""`` for none).

    Every header value is cleaned here (no control characters, bounded length), so nothing a user typed can
    add a header. :raises InvalidAddress: for an unusable recipient or Reply-To address.
    """
    from email.generator import BytesGenerator
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.policy import compat32

    to_addr = check_address(to_addr)
    subject = clean_header_text(subject, SUBJECT_MAX)
    sender = clean_header_text(sender, ADDRESS_MAX).replace(" ", "")
    extra = _extra_headers(headers)
    body = text if text.endswith("\n") else text + "\n"
    if html is None:
        html = render_html(text, subject)
    if needs_smtputf8(to_addr, sender):
        return _build_international(sender, sender_name, to_addr, to_name, subject, body, html, msg_id, extra,
                                    date)
    plain_part = MIMEText(body, "plain", _UTF8_QP if not body.isascii() else "us-ascii")  # type: ignore[arg-type]
    if html:
        msg: Message = MIMEMultipart("alternative")
        msg.attach(plain_part)
        msg.attach(MIMEText(html, "html", _UTF8_QP if not html.isascii() else "us-ascii"))  # type: ignore[arg-type]
    else:
        msg = plain_part
    msg["From"] = formataddr((clean_header_text(sender_name, NAME_MAX), sender), charset="utf-8")
    msg["To"] = formataddr((clean_header_text(to_name, NAME_MAX), to_addr), charset="utf-8")
    msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = clean_header_text(msg_id, 250).replace(" ", "")
    for name, value in extra:
        if name == "Reply-To":
            msg[name] = formataddr(value, charset="utf-8")
        else:
            msg[name] = value if value.isascii() else Header(value, "utf-8", header_name=name)  # type: ignore[assignment]
    out = io.BytesIO()
    wire = compat32.clone(linesep="\r\n")  # no re-parsing of the headers set above: they are clean
    BytesGenerator(out, mangle_from_=False, policy=wire).flatten(msg)
    return out.getvalue()


def _build_international(sender: str, sender_name: str, to_addr: str, to_name: str, subject: str, body: str,
                         html: str, msg_id: str, extra: list[tuple[str, Any]], date: float | None) -> bytes:
    """A recipient with a non-ASCII local part: UTF-8 headers, sent with SMTPUTF8 (RFC 6531)."""
    from email import policy
    from email.headerregistry import Address
    from email.message import EmailMessage

    msg = EmailMessage(policy=policy.SMTPUTF8)
    msg["From"] = Address(display_name=clean_header_text(sender_name, NAME_MAX), addr_spec=sender)
    msg["To"] = format_address(to_name, to_addr)
    msg["Subject"] = subject
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = clean_header_text(msg_id, 250).replace(" ", "")
    for name, value in extra:
        msg[name] = format_address(*value) if name == "Reply-To" else value
    msg.set_content(body, subtype="plain", charset="utf-8")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg.as_bytes()
