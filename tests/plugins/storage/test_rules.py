"""Upload rules as pure functions: names, extensions, sniffing, download headers."""

from __future__ import annotations

import pytest

from core.files.rules import (
    UploadRejected,
    check_content,
    content_disposition,
    display_name,
    extension,
    extension_allowed,
    served_type,
    sniff,
)
from tests.plugins.storage.support import ELF, EXE, PDF, PNG

USERS = [".pdf", ".png", ".jpg", ".jpeg", ".gif", ".txt", ".log", ".zip", ".docx", ".xlsx"]


@pytest.mark.parametrize(("raw", "shown", "ext"), [
    ("../../etc/passwd", "passwd", ""),
    ("a/b.pdf", "b.pdf", ".pdf"),
    ("C:\\Users\\me\\report.PDF", "report.PDF", ".pdf"),
    ("con.txt", "con.txt", ".txt"),
    (".PhP", ".PhP", ".php"),
    ("x.jpg.exe", "x.jpg.exe", ".exe"),
    ("x.pdf.", "x.pdf", ".pdf"),
    ("x.pdf ", "x.pdf", ".pdf"),
    ("x.pdf. . ", "x.pdf", ".pdf"),
    ("archive.tar.gz", "archive.tar.gz", ".gz"),
    ("Résumé.pdf", "Résumé.pdf", ".pdf"),
    ("noext", "noext", ""),
])
def test_display_name_and_last_extension(raw: str, shown: str, ext: str) -> None:
    assert display_name(raw) == shown
    assert extension(display_name(raw)) == ext


@pytest.mark.parametrize("raw", ["a\x00.pdf", "evil\u202egnp.exe", "tab\tname.txt", "x\u2066.pdf", "\x7f.txt"])
def test_control_and_bidi_characters_refused(raw: str) -> None:
    with pytest.raises(UploadRejected) as info:
        display_name(raw)
    assert info.value.status == 400 and "control or text-direction" in info.value.message


@pytest.mark.parametrize("raw", ["", "   ", "...", "a/", "dir/..", None])
def test_empty_names_refused(raw: str | None) -> None:
    with pytest.raises(UploadRejected) as info:
        display_name(raw)
    assert info.value.status == 400


def test_300_byte_name_is_shortened_keeping_the_extension() -> None:
    raw = "é" * 150 + ".pdf"  # 304 bytes in UTF-8
    shown = display_name(raw)
    assert len(shown.encode()) <= 255 and shown.endswith("….pdf") and extension(shown) == ".pdf"
    assert display_name("a" * 300) == "a" * 252 + "…"


def test_extension_allow_lists() -> None:
    assert extension_allowed(".pdf", USERS)
    assert not extension_allowed(".php", USERS)
    assert not extension_allowed(".exe", USERS)
    assert not extension_allowed("", USERS)
    assert extension_allowed("", ["*"]) and extension_allowed(".exe", ["*"])


def test_sniffing() -> None:
    assert sniff(PNG) == "png" and sniff(PDF) == "pdf" and sniff(EXE) == "pe" and sniff(ELF) == "elf"
    assert sniff(b"") == "empty"
    assert sniff(b"MZ is also how this text starts") is None  # an MZ prefix alone is not a PE file
    assert sniff(b"BMW service log") is None
    assert sniff(b"<!DOCTYPE html><html>") == "markup"
    assert sniff(b"\xff\xd8\xff\xe0JFIF") == "jpeg"


@pytest.mark.parametrize(("name", "head", "ok"), [
    ("photo.jpg", EXE, False),            # an executable named .jpg
    ("photo.jpg", ELF, False),
    ("notes.txt", EXE, False),            # executables are refused under any non-executable name
    ("data.bin", ELF, True),
    ("tool.exe", EXE, True),
    ("image.png", PDF, False),            # content contradicts the extension
    ("image.png", b"<html><script>alert(1)</script>", False),
    ("image.png", b"", False),            # a zero-byte .png is not a PNG
    ("empty.txt", b"", True),             # a zero-byte text file is fine
    ("doc.pdf", PDF, True),
    ("doc.pdf", b"just text", False),
    ("report.docx", b"PK\x03\x04" + bytes(100), True),
    ("notes.txt", b"plain words", True),
    ("page.html", b"<!doctype html><p>hi", True),
    ("notes.txt", PNG, False),
    ("unknown.xyz", b"some bytes", True),
])
def test_check_content(name: str, head: bytes, ok: bool) -> None:
    verdict = check_content(name, head)
    assert (verdict.problem == "") is ok, verdict


def test_detected_types() -> None:
    assert check_content("a.png", PNG).content_type == "image/png"
    assert check_content("a.pdf", PDF).content_type == "application/pdf"
    assert check_content("x.unknown", b"abc").content_type == "application/octet-stream"


def test_served_types_are_safe() -> None:
    assert served_type("image/png") == "image/png"
    assert served_type("text/html") == "application/octet-stream"
    assert served_type("image/svg+xml") == "application/octet-stream"
    assert served_type("text/plain") == "text/plain; charset=utf-8"


def test_content_disposition_rfc6266() -> None:
    assert content_disposition("logo.png", "image/png") == 'inline; filename="logo.png"'
    assert content_disposition("a.pdf", "application/pdf") == 'attachment; filename="a.pdf"'
    assert content_disposition("page.html", "text/html").startswith("attachment;")
    assert content_disposition("pic.svg", "image/svg+xml").startswith("attachment;")
    value = content_disposition('Résumé "final";.pdf', "application/pdf")
    assert value == ('attachment; filename="Resume _final__.pdf"; '
                     "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%3B.pdf")
    assert "\u202e" not in content_disposition("a\u202egnp.exe", "application/octet-stream")
