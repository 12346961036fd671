"""Parsers for admin-entered lists: IP/CIDR blacklists, embedding origins, upload extensions.

Each raises ``ValueError`` with a message naming the offending line (1-based) and what is accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

_EXT = re.compile(r"^\.[a-z0-9][a-z0-9_+-]{0,15}$")
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _lines(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return [v.strip() for v in value]


def parse_ip_list(value: object) -> list[str]:
    """Validate IPs and CIDR ranges (IPv4/IPv6); return them normalised, duplicates removed.

    Zone ids (``fe80::1%eth0``) are refused: they only mean something on one host.
    """
    out: list[str] = []
    for number, line in enumerate(_lines(value, "IP blacklist"), 1):
        if not line:
            continue
        if "%" in line:
            raise ValueError(f"line {number}: {line!r} has a zone id; give the address without %zone")
        try:
            net = ipaddress.ip_network(line, strict=False)
        except ValueError:
            raise ValueError(f"line {number}: {line!r} is not an IP address or CIDR range "
                             "(examples: 203.0.113.7, 198.51.100.0/24, 2001:db8::/32)") from None
        text = str(net.network_address) if net.num_addresses == 1 else str(net)
        if text not in out:
            out.append(text)
    return out


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def ip_list_warnings(entries: list[str]) -> list[str]:
    """Warnings for accepted but drastic blacklist entries (``0.0.0.0/0``, ``::/0``, very wide ranges)."""
    out = []
    for entry in entries:
        net = ipaddress.ip_network(entry, strict=False)
        if net.prefixlen == 0:
            out.append(f"{entry} blocks every IPv{net.version} address: nobody on IPv{net.version} can leave feedback.")
        elif net.version == 4 and net.prefixlen < 8 or net.version == 6 and net.prefixlen < 16:
            out.append(f"{entry} is a very wide range ({net.num_addresses:,} addresses).")
    return out


def ip_in_list(address: str, entries: Iterable[str]) -> bool:
    """Tell whether ``address`` (IPv4, IPv6 or IPv4-mapped IPv6) falls in any entry."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for entry in entries:
        net: Any = ipaddress.ip_network(entry, strict=False)
        if net.version == 6 and net.prefixlen >= 96 and net.subnet_of(_MAPPED):  # ::ffff:a.b.c.d[/n] entries
            net = ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
        if ip.version == net.version and ip in net:
            return True
    return False


def parse_origins(value: object) -> list[str]:
    """Validate embedding origins such as ``https://intranet.example.com`` or ``https://*.example.com``."""
    out: list[str] = []
    for number, line in enumerate(_lines(value, "origins"), 1):
        if not line:
            continue
        parts = urlsplit(line)
        host = (parts.hostname or "").lower()
        bad = (parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/")
               or parts.query or parts.fragment or parts.username or " " in line
               or not _HOST.match(host.replace("[", "").replace("]", "")) and not _is_ip(host))
        if not bad:
            try:
                port = parts.port
            except ValueError:
                bad = True
            else:
                origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
        if bad:
            raise ValueError(f"line {number}: {line!r} is not an origin; expected scheme://host[:port], "
                             "e.g. https://intranet.example.com or https://*.example.com")
        if origin not in out:
            out.append(origin)
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_extensions(value: object) -> list[str]:
    """Validate upload extensions: ``*`` alone, or ``.ext`` entries (lower-cased, deduplicated)."""
    out: list[str] = []
    for number, line in enumerate(_lines(value, "extensions"), 1):
        if not line:
            continue
        if line == "*":
            out = ["*"] + [e for e in out if e != "*"]
            continue
        ext = line.lower()
        if not _EXT.match(ext):
            raise ValueError(f"line {number}: {line!r} is not an extension; write it with the dot, "
                             "e.g. .pdf (or * for all)")
        if ext not in out:
            out.append(ext)
    if "*" in out and len(out) > 1:
        raise ValueError("'*' allows every extension; remove the other lines or the '*'")
    return out
