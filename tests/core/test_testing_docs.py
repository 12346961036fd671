"""The plugin authors' harness (``core.testing``) is documented: every public name has a docstring and a place
in docs/writing-plugins.md, and the guide states the login chain's rules."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import core.testing

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
PUBLIC = sorted(core.testing.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_in_the_guide(name):
    assert f"`{name}" in GUIDE, f"docs/writing-plugins.md does not describe core.testing.{name}"


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "TEST_PASSWORD"])
def test_every_public_name_has_a_docstring(name):
    obj = getattr(core.testing, name)
    obj = getattr(obj, "__wrapped__", obj)  # pytest fixtures
    assert (inspect.getdoc(obj) or "").strip(), f"core.testing.{name} has no docstring"
    if inspect.isclass(obj):
        for attr, value in vars(obj).items():
            if inspect.isfunction(value) and not attr.startswith(("_", "test_")):
                assert (inspect.getdoc(value) or "").strip(), f"core.testing.{name}.{attr} has no docstring"


def test_every_module_level_function_has_a_docstring():
    for name, value in vars(core.testing).items():
        if inspect.isfunction(value) and value.__module__ == "core.testing" and not name.startswith("_"):
            assert (inspect.getdoc(value) or "").strip(), f"core.testing.{name} has no docstring"


@pytest.mark.parametrize("rule", [
    "`AuthResult.denied(reason)`", "**stops** the chain", "**counts toward the lockout**",
    "`AuthResult.unavailable(reason)`", "the chain **goes on**", "**never counts toward the lockout**",
    "**Order** follows `[plugins] enabled`",
])
def test_the_guide_states_the_chain_rules(rule):
    assert rule in " ".join(GUIDE.split())
