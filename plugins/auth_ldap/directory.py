"""Talking to one directory: a server pool with failover, TLS, timeouts and a reused service connection.

Nothing here knows about plugdesk accounts; :mod:`plugins.auth_ldap.provider` builds the login on top.
"""

from __future__ import annotations

import math
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ldap3 import BASE, LEVEL, NONE, SUBTREE, SYNC, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)

from plugins.auth_ldap.config import ProviderConfig, ServerSpec

IDLE_BIND_CONNECTIONS = 4


class DirectoryUnavailable(Exception):
    """No server of the pool could be reached (or TLS failed on every one): the directory is down for us."""


class ServiceBindFailed(Exception):
    """The service account (or anonymous search) was refused: an admin must fix the configuration."""


@dataclass
class Entry:
    """One search result: its DN and attributes (values as lists; raw bytes for binary attributes)."""

    dn: str
    attributes: dict[str, list[Any]]
    raw: dict[str, list[bytes]] = field(default_factory=dict)

    def first(self, name: str) -> Any:
        """The first value of ``name`` (case-insensitive), or ``None``."""
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                if isinstance(values, list):
                    return values[0] if values else None
                return values
        return None

    def all(self, name: str) -> list[Any]:
        """Every value of ``name`` (case-insensitive)."""
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                return list(values) if isinstance(values, list) else [values]
        return []

    def raw_first(self, name: str) -> bytes | None:
        """The first raw (undecoded) value of ``name``."""
        for key, values in self.raw.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None


@dataclass
class SearchResult:
    """Entries found, and whether the server said there were more (size limit hit)."""

    entries: list[Entry]
    truncated: bool = False


def network_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this server cannot be used right now" (try the next one)."""
    return (LDAPSocketOpenError, LDAPCommunicationError, LDAPStartTLSError, LDAPCertificateError, ssl.SSLError,
            OSError)


def describe(exc: BaseException) -> str:
    """A one-line description of a connection problem for logs and the connection test."""
    text = str(exc).strip() or exc.__class__.__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "TLS certificate not trusted (not signed by the configured ca_file): " + text
    if isinstance(exc, LDAPCertificateError) or "doesn't match any name" in text:
        return "TLS certificate does not match the server name: " + text
    return f"{exc.__class__.__name__}: {text}"


class Directory:
    """Connections to one provider's servers. Thread-safe; safe across gunicorn's fork (per-process state)."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._service: Connection | None = None
        self._service_server: ServerSpec | None = None
        self._pid = os.getpid()
        self._down_until: dict[str, float] = {}
        self._idle: list[Connection] = []  # connections kept for user binds (no TLS handshake per login)

    # ------------------------------------------------------------------ building blocks
    def tls(self) -> Tls:
        """TLS settings: validation and hostname check on unless ``tls_verify = false``."""
        return Tls(validate=ssl.CERT_REQUIRED if self.cfg.tls_verify else ssl.CERT_NONE,
                   ca_certs_file=self.cfg.ca_file, version=ssl.PROTOCOL_TLS_CLIENT if self.cfg.tls_verify else None,
                   ssl_options=[ssl.OP_NO_SSLv2, ssl.OP_NO_SSLv3, ssl.OP_NO_TLSv1, ssl.OP_NO_TLSv1_1])

    def server(self, spec: ServerSpec) -> Server:
        """An ldap3 server object (no schema/info reads: one round trip less per connection)."""
        return Server(spec.host, port=spec.port, use_ssl=spec.use_ssl, tls=self.tls(), get_info=NONE,
                      connect_timeout=self.cfg.connect_timeout)

    def open(self, spec: ServerSpec) -> Connection:
        """Open (TCP, then LDAPS or StartTLS) an unbound connection to ``spec``; raises on network/TLS errors."""
        conn = Connection(self.server(spec), client_strategy=SYNC, auto_referrals=False, raise_exceptions=False,
                          receive_timeout=max(1, math.ceil(self.cfg.receive_timeout)), read_only=True,
                          return_empty_attributes=False, check_names=False)
        conn.open(read_server_info=False)
        try:  # without it each request after the TLS handshake waits ~40 ms for a delayed ACK (Nagle)
            conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        if self.cfg.start_tls and not spec.use_ssl:
            conn.start_tls(read_server_info=False)
        return conn

    def candidates(self) -> list[ServerSpec]:
        """Servers in configured order, the ones that failed recently last (failover)."""
        now = time.monotonic()
        up = [s for s in self.cfg.servers if self._down_until.get(s.url, 0) <= now]
        return up + [s for s in self.cfg.servers if s not in up]

    def all_down(self) -> bool:
        """True while every server is inside its ``retry_down_after`` window (fail fast, no waiting)."""
        now = time.monotonic()
        return all(self._down_until.get(s.url, 0) > now for s in self.cfg.servers)

    def mark_down(self, spec: ServerSpec) -> None:
        """Skip ``spec`` for ``retry_down_after`` seconds."""
        self._down_until[spec.url] = time.monotonic() + self.cfg.retry_down_after

    def connect(self, servers: Sequence[ServerSpec] | None = None) -> tuple[Connection, ServerSpec]:
        """Open a connection to the first server that answers; :class:`DirectoryUnavailable` if none does."""
        errors = []
        for spec in servers or self.candidates():
            try:
                conn = self.open(spec)
            except network_error_types() as exc:
                self.mark_down(spec)
                errors.append(f"{spec.url}: {describe(exc)}")
                continue
            self._down_until.pop(spec.url, None)
            return conn, spec
        raise DirectoryUnavailable("; ".join(errors) or "no server configured")

    # ------------------------------------------------------------------ service connection (reused)
    def _service_bind(self, conn: Connection) -> None:
        cfg = self.cfg
        if cfg.bind_dn:
            ok = conn.rebind(user=cfg.bind_dn, password=cfg.bind_password, read_server_info=False)
            if not ok:
                result = conn.result or {}
                raise ServiceBindFailed(f"service bind as {cfg.bind_dn!r} refused: {result.get('description')} "
                                        f"({result.get('result')}) {result.get('message') or ''}".strip())

    def _open_service(self) -> tuple[Connection, ServerSpec]:
        """Connect and bind the service account, failing over on network errors and timeouts."""
        errors = []
        for spec in self.candidates():
            try:
                conn = self.open(spec)
            except network_error_types() as exc:
                self.mark_down(spec)
                errors.append(f"{spec.url}: {describe(exc)}")
                continue
            try:
                self._service_bind(conn)
            except ServiceBindFailed:
                _close(conn)
                raise
            except (*network_error_types(), LDAPException) as exc:  # e.g. no answer within receive_timeout
                _close(conn)
                self.mark_down(spec)
                errors.append(f"{spec.url}: service bind: {describe(exc)}")
                continue
            self._down_until.pop(spec.url, None)
            return conn, spec
        raise DirectoryUnavailable("; ".join(errors) or "no server configured")

    @contextmanager
    def service(self) -> Iterator[tuple[Connection, ServerSpec]]:
        """The bound service connection (opened on first use, reused afterwards, one user at a time)."""
        with self._lock:
            if self._pid != os.getpid():  # forked worker: never share the parent's socket
                self._service, self._pid, self._down_until, self._idle = None, os.getpid(), {}, []
            if self._service is None or self._service.closed:
                self._service, self._service_server = self._open_service()
            assert self._service_server is not None
            yield self._service, self._service_server

    def drop_service(self) -> None:
        """Forget the service connection (after a network error; the next call reconnects)."""
        with self._lock:
            if self._service is not None:
                _close(self._service)
            self._service = None

    def search(self, base: str, search_filter: str, attributes: Sequence[str], *, scope: str = "subtree",
               size_limit: int = 2) -> SearchResult:
        """Search with the service connection; reconnects once if the reused connection went stale."""
        for attempt in (1, 2):
            try:
                with self.service() as (conn, spec):
                    try:
                        return run_search(conn, base, search_filter, attributes, scope=scope, size_limit=size_limit,
                                          time_limit=int(self.cfg.receive_timeout) or 1)
                    except network_error_types():
                        self.mark_down(spec)
                        raise
            except network_error_types() as exc:
                self.drop_service()
                if attempt == 2:
                    raise DirectoryUnavailable(describe(exc)) from exc
            except LDAPException as exc:
                self.drop_service()
                raise DirectoryUnavailable(describe(exc)) from exc
        raise DirectoryUnavailable("search failed")  # pragma: no cover - loop always returns or raises

    def user_bind(self, spec: ServerSpec | None, user: str, password: str) -> tuple[Connection | None, dict[str, Any]]:
        """Bind as the user, on an idle pooled connection if there is one, else a new one (``spec`` first).

        Returns the bound connection (hand it back with :meth:`release`) or ``None`` with the server's result.
        """
        if not user or not user.strip() or not password or not password.strip():  # else an anonymous bind
            return None, {"result": 49, "description": "invalidCredentials", "message": "empty credentials refused"}
        pooled = self._take_idle()
        if pooled is not None:
            try:
                return self._bind_on(pooled, user, password)
            except DirectoryUnavailable:
                pass  # the idle connection went stale: retry once on a fresh one
        servers = [spec, *[s for s in self.candidates() if s != spec]] if spec else None
        conn, _used = self.connect(servers)
        return self._bind_on(conn, user, password)

    def _bind_on(self, conn: Connection, user: str, password: str) -> tuple[Connection | None, dict[str, Any]]:
        try:
            ok = conn.rebind(user=user, password=password, read_server_info=False)
        except (*network_error_types(), LDAPException) as exc:
            _close(conn)
            raise DirectoryUnavailable(describe(exc)) from exc
        result = dict(conn.result or {})
        if not ok:
            self.release(conn)
            return None, result
        return conn, result

    def _take_idle(self) -> Connection | None:
        with self._lock:
            if self._pid != os.getpid():
                self._service, self._pid, self._down_until, self._idle = None, os.getpid(), {}, []
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return None

    def release(self, conn: Connection) -> None:
        """Keep a user-bind connection for the next login (a later bind replaces its identity) or close it.

        Idle connections are only ever re-bound, never used for searches, so the identity they hold is inert.
        """
        with self._lock:
            if not conn.closed and len(self._idle) < IDLE_BIND_CONNECTIONS and self._pid == os.getpid():
                self._idle.append(conn)
                return
        _close(conn)


def run_search(conn: Connection, base: str, search_filter: str, attributes: Sequence[str], *,
               scope: str = "subtree", size_limit: int = 2, time_limit: int = 5) -> SearchResult:
    """One search; referrals and continuation references are ignored (never chased)."""
    ldap_scope = {"subtree": SUBTREE, "one": LEVEL, "base": BASE}[scope]
    conn.search(base, search_filter, search_scope=ldap_scope, attributes=list(attributes),
                size_limit=size_limit, time_limit=time_limit)
    result = conn.result or {}
    code = result.get("result", 0)
    if code not in (0, 4, 10, 32):  # success, sizeLimitExceeded, referral, noSuchObject
        raise LDAPException(f"search under {base!r} failed: {result.get('description')} ({code}) "
                            f"{result.get('message') or ''}".strip())
    entries = [Entry(dn=r["dn"], attributes=dict(r.get("attributes") or {}), raw=dict(r.get("raw_attributes") or {}))
               for r in (conn.response or []) if r.get("type") == "searchResEntry"]
    return SearchResult(entries, truncated=code == 4)


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except Exception:  # noqa: BLE001 - closing a broken socket must never fail a login
        pass
