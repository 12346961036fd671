"""Directory login time: plugdesk's login flow vs a raw ldap3 search + bind on the same slapd.

Both sides use LDAPS with certificate validation against the same throwaway slapd:

* **plugdesk**: ``core.auth.login.authenticate`` on an app from ``core.testing.make_test_app`` with
  ``auth_ldap`` first in the chain (reused service connection; search; bind as the user on a new connection;
  just-in-time profile refresh and ``last_login_at`` update in SQLite).
* **baseline**: what a hand-written client does at the least: a reused, bound ldap3 service connection,
  one search, then a new LDAPS connection bound as the found DN (with TCP_NODELAY, like the plugin; without it
  ldap3 waits ~40 ms per TLS bind for a delayed ACK, which would flatter plugdesk).

They alternate in one run; medians are compared. ratio = baseline time / plugdesk time (goal >= 0.67, i.e.
plugdesk at most 1.5x the raw client). Run: ``python -m benchmarks`` or
``python -c "from benchmarks.bench_ldap import figures; print(figures(True))"`` from the repo root (needs slapd).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL = 0.67


def _raw_login(service: Any, server_args: dict[str, Any], base: str, username: str, password: str) -> bool:
    from ldap3 import NONE, SUBTREE, Connection, Server
    from ldap3.utils.conv import escape_filter_chars

    service.search(base, f"(uid={escape_filter_chars(username)})", search_scope=SUBTREE,
                   attributes=["uid", "mail", "cn", "entryUUID"], size_limit=2)
    entries = [r for r in service.response if r.get("type") == "searchResEntry"]
    if len(entries) != 1:
        return False
    conn = Connection(Server(get_info=NONE, **server_args), entries[0]["dn"], password, receive_timeout=5,
                      auto_referrals=False)
    conn.open(read_server_info=False)
    conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ok = conn.bind(read_server_info=False)
    conn.unbind()
    return bool(ok)


def figures(quick: bool) -> list[dict[str, Any]]:
    """Measure and return one figure: median directory login time, plugdesk vs raw ldap3."""
    from ldap3 import NONE, Connection, Server, Tls

    from core.auth.login import authenticate
    from core.testing import make_test_app
    from core.types import RequestInfo
    from tests.plugins.auth_ldap.servers import start_slapd
    from tests.realservers import make_certs

    rounds = 40 if quick else 300
    work = Path(tempfile.mkdtemp(prefix="bench-ldap-"))
    certs = make_certs(work / "certs")
    slapd = start_slapd(work, certs)
    try:
        provider = {"name": "corp", "urls": [slapd.ldaps_url], "ca_file": slapd.ca, "base_dn": slapd.base,
                    "bind_dn": slapd.reader[0], "bind_password": slapd.reader[1]}
        app = make_test_app(work / "app", ["auth_ldap", "auth_local"],
                            overrides={"plugins": {"auth_ldap": {"providers": [provider]}}})
        state = app.extensions["plugdesk"]
        request = RequestInfo()
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=slapd.ca, version=ssl.PROTOCOL_TLS_CLIENT)
        server_args = {"host": "127.0.0.1", "port": slapd.ldaps_port, "use_ssl": True, "tls": tls,
                       "connect_timeout": 5}
        service = Connection(Server(get_info=NONE, **server_args), *slapd.reader, receive_timeout=5,
                             auto_referrals=False)
        service.open(read_server_info=False)
        service.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert service.bind(read_server_info=False)
        user, password = "alice", slapd.users["alice"]["pw"]

        def plugdesk() -> float:
            start = time.perf_counter()
            with app.app_context():
                outcome = authenticate(state, user, password, request)
            elapsed = time.perf_counter() - start
            assert outcome.user is not None, outcome.message
            return elapsed

        def baseline() -> float:
            start = time.perf_counter()
            ok = _raw_login(service, server_args, slapd.base, user, password)
            elapsed = time.perf_counter() - start
            assert ok
            return elapsed

        for _ in range(5):  # warm up: imports, first TLS handshakes, JIT profile creation
            plugdesk()
            baseline()
        ours, raw = [], []
        for i in range(rounds):
            if i % 2:
                ours.append(plugdesk())
                raw.append(baseline())
            else:
                raw.append(baseline())
                ours.append(plugdesk())
        service.unbind()
    finally:
        slapd.stop()
        shutil.rmtree(work, ignore_errors=True)
    ours_ms, raw_ms = statistics.median(ours) * 1000, statistics.median(raw) * 1000
    return [{
        "name": "ldap_login_median",
        "value": round(ours_ms, 3),
        "baseline": round(raw_ms, 3),
        "ratio": round(raw_ms / ours_ms, 3),
        "goal": GOAL,
        "unit": "ms",
        "note": f"LDAPS to a local slapd, {rounds} alternating rounds; plugdesk = core login flow with auth_ldap "
                "(reused service connection, JIT profile refresh in SQLite); baseline = raw ldap3 search on a "
                "reused service connection + bind on a new connection; ratio = baseline/plugdesk",
    }]


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(figures("--quick" in sys.argv), indent=2))
