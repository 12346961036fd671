"""Directory trouble against real servers: down, silent, failover, wrong CA, wrong name, wrong service password;
and the admin's connection test (``plugin_diagnose`` and ``plugdesk plugins test auth_ldap``)."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from core.auth.login import GENERIC_FAILURE, UNAVAILABLE_TAIL
from core.testing import create_user
from tests.conftest import plugdesk_cmd
from tests.plugins.auth_ldap.conftest import SilentServer, login, plugin
from tests.realservers import make_certs

pytestmark = pytest.mark.slow


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.plugdesk for r in caplog.records if hasattr(r, "plugdesk")]


def test_directory_down_local_accounts_still_log_in(make_app: Any, ldap_provider: Any, closed_port: int) -> None:
    app = make_app(ldap_provider(urls=[f"ldaps://127.0.0.1:{closed_port}"]), plugins=["auth_ldap", "auth_local"])
    admin = create_user(app, "admin", username="rescue", password="Rescue-Admin-Pass-1")
    started = time.monotonic()
    out = login(app, "alice", "Alice#Pw1")
    assert out.user is None and out.message.endswith(UNAVAILABLE_TAIL)
    assert time.monotonic() - started < 3
    assert login(app, "rescue", "Rescue-Admin-Pass-1").user.id == admin.id  # local admin unaffected


def test_silent_server_is_bounded_by_the_receive_timeout(make_app: Any, ldap_provider: Any,
                                                        silent_server: SilentServer) -> None:
    app = make_app(ldap_provider(urls=[f"ldap://127.0.0.1:{silent_server.port}"], allow_plaintext=True,
                                 receive_timeout=1))
    started = time.monotonic()
    out = login(app, "alice", "Alice#Pw1")
    elapsed = time.monotonic() - started
    assert out.message.endswith(UNAVAILABLE_TAIL) and silent_server.accepted >= 1
    assert elapsed < 2 * 1 + 1.5, elapsed  # one reconnect at most, each bounded by receive_timeout


def test_unroutable_server_is_bounded_by_the_connect_timeout(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider(urls=["ldaps://10.255.255.1:636"], connect_timeout=1))
    started = time.monotonic()
    assert login(app, "alice", "Alice#Pw1").message.endswith(UNAVAILABLE_TAIL)
    assert time.monotonic() - started < 3.5


def test_failover_to_the_next_server_and_skip_the_dead_one(make_app: Any, ldap_provider: Any, slapd: Any,
                                                           silent_server: SilentServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    dead = f"ldaps://127.0.0.1:{silent_server.port}"
    app = make_app(ldap_provider(urls=[dead, slapd.ldaps_url], receive_timeout=1, connect_timeout=1))
    assert login(app, "alice", "Alice#Pw1").user is not None
    accepted = silent_server.accepted
    plugin(app).providers[0].directory.drop_service()  # force a new connection: the dead server is skipped
    started = time.monotonic()
    assert login(app, "bob", "Bob#Pw1").user is not None
    assert time.monotonic() - started < 0.9 and silent_server.accepted == accepted


def test_all_servers_down_fails_fast_until_retry_window(make_app: Any, ldap_provider: Any,
                                                        silent_server: SilentServer) -> None:
    app = make_app(ldap_provider(urls=[f"ldap://127.0.0.1:{silent_server.port}"], allow_plaintext=True,
                                 receive_timeout=1, retry_down_after=30))
    assert login(app, "alice", "Alice#Pw1").message.endswith(UNAVAILABLE_TAIL)
    started = time.monotonic()
    assert login(app, "alice", "Alice#Pw1").message.endswith(UNAVAILABLE_TAIL)
    assert time.monotonic() - started < 0.5  # no second wait while the directory is known to be down


def test_certificate_from_another_ca_is_refused(make_app: Any, ldap_provider: Any, slapd: Any, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    other = make_certs(tmp_path / "other-ca")
    for overrides in ({"ca_file": other["ca"]},
                      {"ca_file": other["ca"], "urls": [slapd.ldap_url], "start_tls": True}):
        app = make_app(ldap_provider(**overrides))
        with caplog.at_level(logging.INFO):
            out = login(app, "alice", "Alice#Pw1")
        assert out.user is None and out.message.endswith(UNAVAILABLE_TAIL)
        assert "not trusted" in _events(caplog)[-1]["reason"]


def test_system_trust_store_does_not_trust_the_test_ca(make_app: Any, ldap_provider: Any) -> None:
    assert login(make_app(ldap_provider(ca_file="")), "alice", "Alice#Pw1").message.endswith(UNAVAILABLE_TAIL)


def test_hostname_must_match_the_certificate(make_app: Any, ldap_provider: Any, slapd: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider(urls=[f"ldaps://127.0.0.2:{slapd.alt_ldaps_port}"]))  # cert names 127.0.0.1 only
    with caplog.at_level(logging.INFO):
        assert login(app, "alice", "Alice#Pw1").message.endswith(UNAVAILABLE_TAIL)
    assert "does not match" in _events(caplog)[-1]["reason"]
    assert login(make_app(ldap_provider(urls=[f"ldaps://localhost:{slapd.ldaps_port}"])), "alice",
                 "Alice#Pw1").user is not None  # DNS:localhost is in the certificate


def test_disabled_validation_connects_but_is_flagged(make_app: Any, ldap_provider: Any, slapd: Any,
                                                     tmp_path: Path) -> None:
    other = make_certs(tmp_path / "other-ca")
    app = make_app(ldap_provider(ca_file=other["ca"], tls_verify=False,
                                 urls=[f"ldaps://127.0.0.2:{slapd.alt_ldaps_port}"]))
    assert login(app, "alice", "Alice#Pw1").user is not None
    with app.app_context():
        steps = app.extensions["plugdesk"].host.one("auth_ldap", "plugin_diagnose", ctx=app.extensions["plugdesk"].ctx,
                                                    provider="corp", username=None)
    details = " | ".join(s.detail for s in steps or [])
    assert "validation is DISABLED" in details and "certificate NOT verified" in details


def test_wrong_service_password(make_app: Any, ldap_provider: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider(bind_password="not-the-reader-password"))
    with caplog.at_level(logging.INFO):
        out = login(app, "alice", "Alice#Pw1")
    # users: the generic "directory unreachable" message, nothing about service accounts
    assert out.user is None and out.message.endswith(UNAVAILABLE_TAIL) and "service" not in out.message
    event = _events(caplog)[-1]
    assert event["outcome"] == "unavailable" and "service bind" in event["reason"]
    assert "invalidCredentials" in event["reason"] and "not-the-reader-password" not in caplog.text
    steps = _diagnose(app, "corp", "alice")
    bind = next(s for s in steps if s.name == "corp: service bind")
    assert not bind.ok and "invalidCredentials" in bind.detail and "cn=reader" in bind.detail
    assert "not-the-reader-password" not in " ".join(s.detail for s in steps)
    assert not any(s.name == "corp: user lookup" for s in steps)  # later steps depend on the bind


def _diagnose(app: Any, provider: str | None, username: str | None) -> list[Any]:
    st = app.extensions["plugdesk"]

    with app.app_context():
        return st.host.one("auth_ldap", "plugin_diagnose", ctx=st.ctx, provider=provider, username=username)


def test_diagnose_reports_every_step(make_app: Any, ldap_provider: Any, slapd: Any, closed_port: int) -> None:
    app = make_app(ldap_provider(urls=[f"ldaps://127.0.0.1:{closed_port}", slapd.ldaps_url],
                                 group_base_dn="ou=groups,dc=example,dc=org", role_map={"helpdesk": "agent"}))
    steps = _diagnose(app, "corp", "alice")
    by_name = {s.name: s for s in steps}
    assert not by_name[f"corp: connect ldaps://127.0.0.1:{closed_port}"].ok
    assert "refused" in by_name[f"corp: connect ldaps://127.0.0.1:{closed_port}"].detail.lower()
    assert by_name[f"corp: tls {slapd.ldaps_url}"].ok
    assert by_name["corp: service bind"].ok and by_name["corp: search base"].ok
    lookup = by_name["corp: user lookup"]
    assert lookup.ok and "uid=alice,ou=people" in lookup.detail and "role=agent" in lookup.detail
    twin = _diagnose(app, "corp", "twin")[-1]
    assert not twin.ok and "more than one entry" in twin.detail
    assert not _diagnose(app, "corp", "nobody")[-1].ok
    assert _diagnose(app, "nope", None)[0].detail.startswith("no provider named 'nope'")


def test_diagnose_wrong_ca_and_bad_base(make_app: Any, ldap_provider: Any, tmp_path: Path) -> None:
    other = make_certs(tmp_path / "other-ca")
    steps = _diagnose(make_app(ldap_provider(ca_file=other["ca"])), None, None)
    tls = next(s for s in steps if s.name.startswith("corp: tls"))
    assert not tls.ok and "not trusted" in tls.detail and "CERTIFICATE_VERIFY_FAILED" in tls.detail
    steps = _diagnose(make_app(ldap_provider(base_dn="ou=nowhere,dc=example,dc=org")), None, None)
    assert not steps[-1].ok and steps[-1].name == "corp: search base" and "ou=nowhere" in steps[-1].detail


def test_cli_connection_test(tmp_path: Path, ldap_provider: Any) -> None:
    """``plugdesk plugins test auth_ldap --provider corp --username alice`` through the real CLI."""
    data = tmp_path / "site"
    pw = tmp_path / "pw"
    pw.write_text("Cli-Admin-Pass-1")
    subprocess.run(plugdesk_cmd("init", "--data-dir", str(data), "--admin-password-file", str(pw)), check=True,
                   capture_output=True)
    config = data / "plugdesk.toml"
    import re

    good, bad = ldap_provider(), ldap_provider(name="broken", bind_password="wrong-service-pass")
    text = re.sub(r"enabled = \[.*\]", 'enabled = ["auth_local", "auth_ldap"]', config.read_text())
    config.write_text(text + "\n[plugins.auth_ldap]\nproviders = " + _toml_array([good, bad]) + "\n")
    ok = subprocess.run(plugdesk_cmd("--config", str(config), "plugins", "test", "auth_ldap", "--provider", "corp",
                                     "--username", "alice", "--json"), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    steps = json.loads(ok.stdout)
    assert [s["name"].split(" ")[1] for s in steps] == ["config", "connect", "tls", "service", "search", "user"]
    failed = subprocess.run(plugdesk_cmd("--config", str(config), "plugins", "test", "auth_ldap", "--provider",
                                         "broken"), capture_output=True, text=True)
    assert failed.returncode != 0
    assert "[FAIL] broken: service bind" in failed.stdout and "invalidCredentials" in failed.stdout
    assert "wrong-service-pass" not in failed.stdout + failed.stderr


def _toml_array(tables: list[dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    return "[" + ", ".join(value(t) for t in tables) + "]"


def test_login_attempt_logs_are_structured(make_app: Any, ldap_provider: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider())
    with caplog.at_level(logging.INFO):
        login(app, "alice", "Alice#Pw1")
        login(app, "alice", "Not-Alice-Pw")
        login(app, "ghost", "Ghost#Pw1")
    events = _events(caplog)
    assert [e["outcome"] for e in events] == ["ok", "denied", "no_such_user"]
    assert all(set(e) >= {"event", "provider", "username", "outcome", "reason", "ms", "remote_addr"} for e in events)
    assert all(e["event"] == "auth_ldap.login" and e["provider"] == "corp" for e in events)
    assert all(pw not in caplog.text for pw in ("Alice#Pw1", "Not-Alice-Pw", "Ghost#Pw1", "Reader#Pw1"))
    assert GENERIC_FAILURE not in json.dumps(events)


def test_directory_failures_count_toward_the_shared_lockout(make_app: Any, ldap_provider: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider())
    with app.app_context():
        limit = app.extensions["plugdesk"].runtime.get("security.brute_force.max_failures")
    for _ in range(limit + 1):
        assert login(app, "bob", "Not-Bobs-Password").message == GENERIC_FAILURE
    caplog.clear()
    with caplog.at_level(logging.INFO):
        out = login(app, "bob", "Bob#Pw1")  # right password, but core's lockout answers first
    assert out.user is None and out.message == GENERIC_FAILURE
    assert not _events(caplog)  # the directory was not even asked
    assert login(app, "alice", "Alice#Pw1").user is not None  # other accounts are unaffected
