"""Building messages: CR/LF can never reach a header, addresses are checked, names RFC 2047 encoded."""

from __future__ import annotations

import email
import email.policy

import pytest

from core.outbox.compose import (
    InvalidAddress,
    build_message,
    check_address,
    clean_header_text,
    parse_sender,
    ticket_subject,
)
from core.outbox.delivery import backoff_seconds


def build(**kw):
    base = dict(sender="help@example.com", sender_name="Help Desk", to_addr="ann@example.com", to_name="Ann",
                subject="Hello", text="Body line\n\nhttps://help.example.com/x?a=1&b=<2>", html=None,
                msg_id="<abc@example.com>")
    base.update(kw)
    return build_message(**base)


def parsed(msg):
    raw = bytes(msg)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def test_crlf_in_subject_and_display_name_cannot_inject_headers():
    msg = build(subject="Help\r\nBcc: victim@example.org\r\n\r\nbody", to_name="Ann\r\nBcc: x@example.org")
    raw, back = parsed(msg)
    assert b"\r\nBcc:" not in raw
    assert back["Bcc"] is None
    assert back["Subject"] == "Help Bcc: victim@example.org body"
    assert back["To"].addresses[0].display_name == "Ann Bcc: x@example.org"
    assert "\u2028" not in clean_header_text("a\u2028b\x85c\x00d", 50)


@pytest.mark.parametrize("bad", ["", "ann", "ann@", "@example.com", "ann@@example.com", "ann example@x.org",
                                 "ann@example.com\r\nBcc: x@y.org", "ann@exa mple.com", "<ann@example.com>",
                                 "ann@-bad-.com", "a" * 65 + "@example.com", "ann@" + "x" * 250 + ".com",
                                 "ann..b@example.com", "ann,b@example.com"])
def test_invalid_recipients_are_refused(bad):
    with pytest.raises(InvalidAddress):
        check_address(bad)


def test_valid_recipients_idn_domain_becomes_ascii():
    assert check_address(" Ann.Lee+desk@Example.COM ") == "Ann.Lee+desk@Example.COM"
    assert check_address("vera@bücher.example") == "vera@xn--bcher-kva.example"


def test_non_ascii_display_names_are_rfc2047_encoded():
    raw, back = parsed(build(to_name="Jürgen Müller-Ødegård 日本", sender_name="Support – Café"))
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block.lower()
    assert back["To"].addresses[0].display_name == "Jürgen Müller-Ødegård 日本"
    assert back["From"].addresses[0].display_name == "Support – Café"


def test_over_long_subject_is_cut_and_folded():
    msg = build(subject="Ü" + "x" * 5000)
    raw, back = parsed(msg)
    assert len(back["Subject"]) <= 250 and back["Subject"].endswith("…")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_plain_text_always_and_html_alternative_from_the_template():
    _raw, back = parsed(build())
    assert back.get_content_type() == "multipart/alternative"
    assert "Body line" in back.get_body(("plain",)).get_content()
    html = back.get_body(("html",)).get_content()
    assert '<a href="https://help.example.com/x?a=1&amp;b=">https://help.example.com/x?a=1&amp;b=</a>&lt;2&gt;' \
        in html  # the link stops before '<', which stays escaped text
    assert "<p>Body line</p>" in html
    _raw, back = parsed(build(text="<script>alert(1)</script>"))
    assert "<script>" not in back.get_body(("html",)).get_content()


def test_extra_headers_are_whitelisted_and_cleaned():
    _raw, back = parsed(build(headers={"In-Reply-To": "<a@x>\r\nBcc: y@z.org", "References": ["<r1@x>", "<r2@x>"],
                                       "Reply-To": ["Sales", "sales@example.com"], "Bcc": "evil@example.org",
                                       "Auto-Submitted": "auto-generated"}))
    assert back["Bcc"] is None and back["In-Reply-To"] == "<a@x> Bcc: y@z.org"  # one harmless header value
    assert back["References"] == "<r1@x> <r2@x>"
    assert back["Reply-To"].addresses[0].addr_spec == "sales@example.com"
    assert back["Auto-Submitted"] == "auto-generated"


def test_ticket_subject_tag_and_sender_parsing():
    assert ticket_subject(7, "Re: Wifi") == "[#7] Re: Wifi"
    assert ticket_subject(7, "[#7] Re: Wifi") == "[#7] Re: Wifi"
    assert ticket_subject(7, "x\r\ny") == "[#7] x y"
    assert parse_sender("Help Desk <help@example.com>") == ("Help Desk", "help@example.com")
    assert parse_sender("plugdesk@localhost") == ("", "plugdesk@localhost")


def test_backoff_doubles_with_jitter_and_a_cap():
    mid = lambda: 0.5  # noqa: E731 - no jitter
    assert [backoff_seconds(n, 60, 3600, mid) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff_seconds(30, 60, 3600, mid) == 3600
    assert backoff_seconds(1, 60, 3600, lambda: 0.0) == 45 and backoff_seconds(1, 60, 3600, lambda: 1.0) == 75
