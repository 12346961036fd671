"""Pure rules of email to ticket: loops and junk, block lists, and folding quoted history.

Nothing here touches the database, so each rule is easy to test on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - settings validation imports this module; it needs no mail parser
    from core.inbound.parse import ParsedMail

#: Local parts of addresses that send automatic mail (bounces, postmaster notices).
SYSTEM_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
JUNK_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
_ON_WROTE = re.compile(r"^\s*(On\b.{0,300}\bwrote:|Am\b.{0,300}\bschrieb.{0,80}:|Le\b.{0,300}\ba écrit\s*:)\s*$",
                       re.I)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Forwarded message)\s*-{2,}", re.I)
_OUTLOOK = re.compile(r"^\s*(From|Von|De):\s+\S.*$", re.I)
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|Gesendet|Envoyé|To|An):\s", re.I)
_TICKET_TOKEN = re.compile(r"\[#(\d{1,10})\]")


def junk_reason(mail: ParsedMail, own_addresses: Iterable[str] = ()) -> str | None:
    """Why ``mail`` is automatic or bulk mail that must not open or answer a ticket, or ``None``.

    Filed, never answered: ``Auto-Submitted`` other than ``no`` (RFC 3834), ``Precedence: bulk/junk/list``,
    ``X-Autoreply``/``X-Autorespond``, mail from ``MAILER-DAEMON``/``postmaster``, and mail From one of our own
    mailboxes (a loop through a forwarding rule).
    """
    auto = mail.header("auto-submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"automatic reply (Auto-Submitted: {auto})"
    precedence = mail.header("precedence").strip().lower()
    if precedence in JUNK_PRECEDENCE:
        return f"bulk mail (Precedence: {precedence})"
    for name in ("x-autoreply", "x-autorespond"):
        if mail.header(name):
            return f"automatic reply ({name}: {mail.header(name)[:40]})"
    local = mail.sender.split("@", 1)[0]
    if local in SYSTEM_SENDERS:
        return f"system mail from {mail.sender} (not a bounce of ours)"
    own = {a.strip().lower() for a in own_addresses if a}
    if mail.sender and mail.sender in own:
        return f"sent by our own mailbox {mail.sender} (a mail loop)"
    return None


def blocked(sender: str, block_list: Iterable[str]) -> str | None:
    """The block-list entry that matches ``sender`` (``alice@example.com`` or ``@example.com``), or ``None``."""
    sender = sender.lower()
    domain = "@" + sender.rsplit("@", 1)[-1] if "@" in sender else ""
    for entry in block_list:
        item = entry.strip().lower()
        if item and (item == sender or (item.startswith("@") and (item == domain or domain.endswith("." + item[1:])))):
            return item
    return None


_BLOCK_ENTRY = re.compile(r"^([^@\s]+@)?@?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


def parse_sender_list(value: object) -> list[str]:
    """Validate the sender block list (``security.blocked_senders``): ``alice@example.com`` or ``@example.com``
    per line; lower-cased, duplicates removed. Raises ``ValueError`` naming the line."""
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("blocked senders must be a list of strings")
    out: list[str] = []
    for number, raw in enumerate(value, 1):
        entry = raw.strip().lower()
        if not entry:
            continue
        if "@" not in entry or not _BLOCK_ENTRY.match(entry) or entry.count("@") > 1:
            raise ValueError(f"line {number}: {raw.strip()!r} is neither an address (alice@example.com) nor a "
                             "domain written with its @ (@example.com)")
        if entry not in out:
            out.append(entry)
    return out


def ticket_tokens(subject: str) -> list[int]:
    """Ticket numbers written as ``[#123]`` in a subject, in order."""
    return [int(n) for n in _TICKET_TOKEN.findall(subject)]


def split_quoted(text: str) -> tuple[str, str]:
    """``(new text, folded part)``: the reply on top, the quoted history and signature below.

    A documented heuristic (tested in ``tests/core/test_inbound_rules.py``): the folded part starts at the first
    line that is an attribution (``On ... wrote:``, also split over two lines), an Outlook header block
    (``From:`` followed by ``Sent:``/``Date:``/``To:``), an ``-----Original Message-----`` line, a signature
    separator (``-- ``), or a ``>`` quote after which only quotes and blank lines follow. When the new text
    would be empty, nothing is folded.
    """
    lines = text.split("\n")
    cut = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (_ON_WROTE.match(line) or _ORIGINAL.match(line) or line.rstrip("\r") == "-- "
                or (_ON_WROTE.match(f"{line} {nxt}") and line.strip().lower().startswith(("on ", "am ", "le ")))
                or (_OUTLOOK.match(line) and _OUTLOOK_NEXT.match(nxt))):
            cut = i
            break
        if line.startswith(">") and all(not rest.strip() or rest.startswith(">") for rest in lines[i:]):
            cut = i
            break
    if cut is None:
        return text, ""
    top = "\n".join(lines[:cut]).rstrip()
    if not top.strip():
        return text, ""
    return top, "\n".join(lines[cut:]).strip("\n")
