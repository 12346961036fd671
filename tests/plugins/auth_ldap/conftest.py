"""Fixtures for the auth_ldap tests: a real slapd and a real Samba AD DC (session-wide), apps wired to them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.testing import make_test_app
from core.types import RequestInfo
from tests.plugins.auth_ldap.servers import SambaAD, Slapd, start_samba_ad, start_slapd


@pytest.fixture(scope="session")
def slapd(workdir: Path, certs: dict[str, str]) -> Iterator[Slapd]:
    """OpenLDAP with LDAP+StartTLS, LDAPS, and LDAPS on 127.0.0.2 (name not in the certificate)."""
    try:
        server = start_slapd(workdir, certs)
    except RuntimeError as exc:
        pytest.fail(f"cannot start slapd: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def samba_ad(workdir: Path, certs: dict[str, str]) -> Iterator[SambaAD]:
    """A Samba AD DC on 127.0.0.1:389/636 with alice, bob (disabled), dave (must change), erin (expired),
    frank (locked), gina, henry (OU=Staff) and the service account svc-plugdesk."""
    try:
        server = start_samba_ad(workdir, certs)
    except RuntimeError as exc:
        pytest.fail(f"cannot start the Samba AD DC: {exc}")
    yield server
    server.stop()


@pytest.fixture
def ldap_provider(slapd: Slapd) -> Callable[..., dict[str, Any]]:
    """``ldap_provider(**overrides)``: one provider table for the test slapd (LDAPS, service account)."""

    def make(**overrides: Any) -> dict[str, Any]:
        table = {"name": "corp", "kind": "ldap", "urls": [slapd.ldaps_url], "ca_file": slapd.ca,
                 "base_dn": slapd.base, "bind_dn": slapd.reader[0], "bind_password": slapd.reader[1],
                 "connect_timeout": 2, "receive_timeout": 2}
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    return make


@pytest.fixture
def ad_provider(samba_ad: SambaAD) -> Callable[..., dict[str, Any]]:
    """``ad_provider(**overrides)``: one AD provider table for the test DC (LDAPS by domain + explicit URL)."""

    def make(**overrides: Any) -> dict[str, Any]:
        table = {"name": "ad", "kind": "ad", "domain": samba_ad.domain, "urls": ["ldaps://127.0.0.1:636"],
                 "ca_file": samba_ad.ca, "bind_dn": samba_ad.service[0], "bind_password": samba_ad.service[1],
                 "connect_timeout": 3, "receive_timeout": 5}
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    return make


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """``make_app(*providers, plugins=["auth_local", "auth_ldap"])``: an app with those directories configured."""
    counter = iter(range(1000))

    def make(*providers: dict[str, Any], plugins: list[str] | None = None) -> Flask:
        overrides = {"plugins": {"auth_ldap": {"providers": list(providers)}}}
        return make_test_app(tmp_path / f"app{next(counter)}", plugins or ["auth_local", "auth_ldap"],
                             overrides=overrides)

    return make


def login(app: Flask, username: str, password: str) -> Any:
    """Run core's login flow (the one every entry point uses)."""
    from core.auth.login import authenticate

    with app.app_context():
        return authenticate(app.extensions["plugdesk"], username, password, RequestInfo(remote_addr="192.0.2.7"))


def plugin(app: Flask) -> Any:
    """The auth_ldap runtime object (parsed config + providers) of ``app``."""
    return app.extensions["plugdesk"].ctx.plugin_config("auth_ldap")


class SilentServer:
    """A TCP listener that accepts connections and never answers (for receive timeouts), counting accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(conn)

    def close(self) -> None:
        """Stop accepting and close everything."""
        self._stop = True
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A server that accepts TCP connections but never says a word."""
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connection refused)."""
    from tests.realservers import free_port

    return free_port()
