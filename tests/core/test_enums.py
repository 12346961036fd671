"""Roles and statuses are spelled once, in ``core.types`` (issue 15 item 4); settings go through the schema library.

The enums are ``StrEnum``s whose values are the old strings, so stored rows, JSON and plugin code comparing with
``"agent"`` keep working; this lint keeps new code from spelling them out again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import PostStatus, Role, TicketStatus
from core.schema import value_adapter
from core.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
# Modules under active work elsewhere (issues 17, 18 and 20) that still spell a literal; remove when converted.
PENDING = {"core/workspace/context.py", "core/workspace/web.py", "plugins/auth_oidc/config.py",
           "core/inbound/ingest.py", "core/inbound/web.py", "core/contracts/redirect.py"}
ROLE_LIST = re.compile(r"""[("\[{]\s*["'](user|agent|manager)["']\s*[:,]\s*\w*\s*,?\s*["'](agent|manager|admin)["']""")
ROLE_ARGUMENT = re.compile(r"""(login_required\(|has_role\(\w+(\(\))?, |auth=|role=)"""
                           r"""["'](user|agent|manager|admin)["']""")
STATUS_COMPARE = re.compile(r"""status\s*(==|!=)\s*["'](open|waiting|closed|published|pending|rejected)["']""")
STATUS_VALUE = re.compile(r"""status["']?\s*[=:]\s*["'](open|waiting|closed|published|pending|rejected)["']""")


def _sources() -> list[Path]:
    return [p for top in ("core", "plugins") for p in (ROOT / top).rglob("*.py")
            if p.relative_to(ROOT).as_posix() not in PENDING and ROOT / "core" / "types" not in p.parents]


def test_enum_values_are_the_stored_strings():
    assert [r.value for r in Role] == ["user", "agent", "manager", "admin"]
    assert Role.AGENT == "agent" and f"{Role.ADMIN}" == "admin"
    assert [s.value for s in TicketStatus] == ["open", "waiting", "closed"]
    assert [s.value for s in PostStatus] == ["published", "pending", "rejected"]
    assert Role.at_least("agent") == (Role.AGENT, Role.MANAGER, Role.ADMIN)
    assert Role.at_least(Role.ADMIN) == (Role.ADMIN,) and "user" not in Role.at_least("agent")
    with pytest.raises(ValueError):
        Role.at_least("owner")


def test_roles_and_statuses_are_not_spelled_out_in_code():
    found = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(p.search(line) for p in (ROLE_LIST, ROLE_ARGUMENT, STATUS_COMPARE, STATUS_VALUE)):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "use core.types.Role / TicketStatus / PostStatus:\n" + "\n".join(found)


@pytest.mark.parametrize(("kind", "value", "strict", "ok"), [
    ("int", 5, True, True), ("int", "5", True, False), ("int", True, True, False), ("int", "5", False, True),
    ("bool", "on", True, False), ("list", ["a"], True, True), ("list", ("a",), True, False),
])
def test_one_value_adapter_for_static_and_runtime_settings(kind, value, strict, ok):
    adapter = value_adapter(kind)
    try:
        adapter.validate_python(value, strict=strict)
    except ValueError:
        assert not ok
    else:
        assert ok


@pytest.mark.parametrize(("overrides", "message"), [
    ({"server": {"port": 70000}}, "expected an integer >= 1 and <= 65535"),
    ({"server": {"port": True}}, "got True; expected an integer"),
    ({"logging": {"level": "LOUD"}}, "expected one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
    ({"plugins": {"enabled": ["auth_local", 3]}}, "expected a list of strings"),
])
def test_static_settings_are_checked_by_the_schema_library(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides=overrides, environ={})
    assert message in str(info.value)
