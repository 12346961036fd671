"""The Content-Security-Policy allows scripts from 'self' only: no template may carry an inline event handler
(``onsubmit=``, ``onclick=``...) or an inline ``<script>`` body, which the browser would silently refuse
(the delete confirmations that never asked). Confirmations go through ``data-confirm`` and plugdesk.js."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p for base in ("core", "plugins") for p in (ROOT / base).rglob("templates/**/*.html"))
HANDLER = re.compile(r"<[a-zA-Z][^>]*?\son[a-z]+\s*=", re.DOTALL)
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)


def test_templates_were_found():
    assert len(TEMPLATES) > 30


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inline_event_handlers_or_inline_scripts(path: Path):
    text = path.read_text(encoding="utf-8")
    handlers = [m.group(0)[:80] for m in HANDLER.finditer(text)]
    assert not handlers, f"inline event handler(s): {handlers}"
    for attributes, body in SCRIPT.findall(text):
        assert "src=" in attributes and not body.strip(), f"inline <script> body in {path.name}: {body[:80]!r}"


def test_the_patterns_catch_what_they_should():
    assert HANDLER.search('<form method="post" onsubmit="return confirm(1)">')
    assert HANDLER.search('<button\n  type="submit" onclick="x()">')
    assert not HANDLER.search('<meta name="viewport" content="width=device-width">')
    assert not HANDLER.search('<form data-confirm="Delete? on=off">')
    assert SCRIPT.findall("<script>alert(1)</script>")[0][1] == "alert(1)"


def test_destructive_forms_ask_first():
    for name in ("manage/tickets_view.html", "manage/kb_edit.html", "manage/kb.html", "community/thread.html",
                 "manage/canned.html"):
        text = (ROOT / "core" / "templates" / name).read_text(encoding="utf-8")
        assert "data-confirm=" in text, name
    script = (ROOT / "core" / "static" / "plugdesk.js").read_text(encoding="utf-8")
    assert "data-confirm" in script and "window.confirm" in script
