"""Meta-tests (as datasette does): every hook is documented with its exact signature, and tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.hookdocs import signature
from core.plugins import spec_names

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
TEST_SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")
                         if p.name != "test_hook_docs.py")


@pytest.mark.parametrize("name", spec_names())
def test_hook_is_documented_with_exact_signature(name):
    assert f"### `{name}`" in DOCS, f"docs/hooks.md has no section for {name}; run python -m core.hookdocs"
    assert signature(name) in DOCS, f"docs/hooks.md shows an outdated signature for {name}"


@pytest.mark.parametrize("name", spec_names())
def test_hook_has_a_test(name):
    assert re.search(rf"\b{name}\b", TEST_SOURCES), f"no test mentions the hook {name}"


def test_docs_mention_no_unknown_hooks():
    hooks_part = DOCS.split("\n## Hooks\n", 1)[1].split("\n## Value types\n", 1)[0]
    documented = set(re.findall(r"^### `(\w+)`", hooks_part, re.M))
    assert documented == set(spec_names())
