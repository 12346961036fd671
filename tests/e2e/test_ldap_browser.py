"""A directory user logs in to a real plugdesk server in real Chromium (auth_ldap against a real slapd)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.auth_ldap.servers import Slapd, start_slapd

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def e2e_slapd(workdir: Path, certs: dict[str, str]) -> Iterator[Slapd]:
    """The auth_ldap test directory (alice, bob, ...) on free ports."""
    try:
        server = start_slapd(workdir, certs)
    except RuntimeError as exc:
        pytest.fail(f"cannot start slapd: {exc}")
    yield server
    server.stop()


def _toml(slapd: Slapd) -> str:
    return (
        "[plugins.auth_ldap]\n"
        "[[plugins.auth_ldap.providers]]\n"
        'name = "corp"\nlabel = "Example Corp directory"\nkind = "ldap"\n'
        f'urls = ["{slapd.ldaps_url}"]\nca_file = "{slapd.ca}"\nbase_dn = "{slapd.base}"\n'
        f'bind_dn = "{slapd.reader[0]}"\nbind_password = "{slapd.reader[1]}"\n'
        f'group_base_dn = "ou=groups,{slapd.base}"\n'
        'role_map = { helpdesk = "agent" }\n'
    )


def test_ldap_user_logs_in_with_chromium(page: Any, live_server: Callable[..., dict[str, Any]], e2e_slapd: Slapd,
                                         screenshot: Callable[[Any, str], Path]) -> None:
    site = live_server(extra_toml=_toml(e2e_slapd), plugins=["auth_local", "auth_ldap"])
    page.goto(site["url"] + "/login")
    page.fill("#username", "alice")
    page.fill("#password", "Wrong-Password-1")
    page.get_by_role("button", name="Log in").click()
    assert "incorrect" in page.get_by_role("alert").inner_text()
    shot = screenshot(page, "wrong-password")
    assert shot.stat().st_size > 1000

    page.fill("#username", "alice")
    page.fill("#password", e2e_slapd.users["alice"]["pw"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("link", name="Alice Adams").count() >= 1  # display name from the directory
    page.goto(site["url"] + "/profile")
    body = page.inner_text("body")
    assert "alice@example.org" in body and "Alice Adams" in body and "agent" in body  # role from group mapping
    shot = screenshot(page, "profile")
    assert shot.stat().st_size > 1000
    # a directory user gets no local password form
    assert page.locator("#new_password").count() == 0 and "managed by Example Corp directory" in body
    log = Path(site["log"]).read_text(errors="replace")
    assert e2e_slapd.users["alice"]["pw"] not in log and e2e_slapd.reader[1] not in log
