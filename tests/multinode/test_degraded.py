"""Degraded modes: a backend goes away and plugdesk keeps serving what does not need it, with a clear message."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.multinode.client import Http
from tests.multinode.cluster import ADMIN, Cluster
from tests.multinode.test_cross_node import login, new_department, new_user
from tests.realservers import wait_until

pytestmark = [pytest.mark.multinode, pytest.mark.slow]


def test_redis_down_login_still_works_with_per_node_counters(healthy_cluster: Cluster) -> None:
    user = new_user(healthy_cluster, "redis")
    healthy_cluster.redis.stop()
    try:
        for node in (0, 1):
            client = healthy_cluster.http(node)
            started = time.monotonic()
            assert login(client, user["username"], "wrong password").status == 401
            assert login(client, user["username"], user["password"]).status == 200
            assert login(client, *ADMIN).status == 200
            assert time.monotonic() - started < 10, "a dead Redis must fail fast, not hang logins"
            health = client.get("/healthz")
            assert health.status == 200, health.text  # degraded, not down
            body = health.json()
            assert body["status"] == "ok" and body["checks"]["limits"] == "degraded"
            assert "per node" in body["detail"]["limits"] and "redis unreachable" in body["detail"]["limits"]
        logs = "".join(n.log.read_text(errors="replace") for n in healthy_cluster.nodes)
        assert "limits storage unavailable" in logs and "using per-node counters" in logs
    finally:
        healthy_cluster.redis.start()
    wait_until(lambda: healthy_cluster.http(0).get("/healthz").json()["checks"]["limits"] == "ok", None,
               "limits check back to ok", timeout=10)
    assert login(healthy_cluster.http(1), user["username"], user["password"]).status == 200


def test_s3_down_uploads_503_and_pages_without_attachments_still_work(healthy_cluster: Cluster) -> None:
    assert healthy_cluster.moto is not None
    token = healthy_cluster.admin_token()
    dept = new_department(healthy_cluster, token)
    user = new_user(healthy_cluster, "s3")
    user_token = login(healthy_cluster.http(0), user["username"], user["password"]).json()["token"]
    subject = f"with file {secrets.token_hex(3)}"
    healthy_cluster.moto.stop()
    try:
        for node in (0, 1):
            client = healthy_cluster.http(node)
            upload = client.post_files("/api/v1/tickets", {"subject": subject, "body": "attached",
                                                           "department_id": str(dept["id"])},
                                       [("notes.txt", b"plain text " + secrets.token_bytes(8).hex().encode())],
                                       user_token)
            assert upload.status == 503, upload.text[:300]
            assert upload.headers["content-type"].startswith("application/problem+json")
            detail = upload.json()["detail"]
            assert "nothing was saved" in detail and "127.0.0.1" not in detail  # no endpoint leaks out
            plain = client.post_json("/api/v1/tickets", {"subject": "no file", "body": "just text",
                                                         "department_id": dept["id"]}, token=user_token)
            assert plain.status == 201, plain.text[:300]
            assert client.get(f"/api/v1/tickets/{plain.json()['id']}", token=user_token).status == 200
            for page in ("/", "/login", "/kb"):
                assert client.get(page).status in (200, 404), page
            assert client.get("/").status == 200 and client.get("/login").status == 200
            health = client.get("/healthz")
            assert health.status == 503 and health.json()["checks"]["storage"].startswith("error")
        assert healthy_cluster.sql("SELECT count(*) FROM tickets WHERE subject = %s", subject) == [(0,)]
    finally:
        healthy_cluster.moto.start()
    healthy_cluster.wait_healthy()
    again = healthy_cluster.http().post_files("/api/v1/tickets", {"subject": subject, "body": "attached",
                                                                  "department_id": str(dept["id"])},
                                              [("notes.txt", b"back again")], user_token)
    assert again.status == 201, again.text[:300]


LDAP_TABLE = """
[plugins.auth_ldap]
[[plugins.auth_ldap.providers]]
name = "corp"
kind = "ldap"
urls = ["{url}"]
ca_file = "{ca}"
base_dn = "{base}"
bind_dn = "{bind_dn}"
bind_password = "{bind_pw}"
connect_timeout = 2
receive_timeout = 2
"""


def test_ldap_down_local_accounts_still_log_in(live_server: Callable[..., dict[str, Any]], workdir: Path,
                                               certs: dict[str, str]) -> None:
    from tests.plugins.auth_ldap.servers import LDAP_USERS, start_slapd

    slapd = start_slapd(workdir, certs)
    try:
        site = live_server(extra_toml=LDAP_TABLE.format(url=f"ldaps://127.0.0.1:{slapd.ldaps_port}", ca=slapd.ca,
                                                        base=slapd.base, bind_dn=slapd.reader[0],
                                                        bind_pw=slapd.reader[1]),
                           plugins=["auth_local", "auth_ldap", "storage_fs"])
        client = Http(site["url"])
        alice = LDAP_USERS["alice"]
        assert login(client, alice["uid"], alice["pw"]).status == 200  # the directory works
    finally:
        slapd.stop()
    started = time.monotonic()
    assert login(client, *site["admin"]).status == 200, "a local account must log in while LDAP is down"
    refused = login(client, alice["uid"], alice["pw"])
    assert refused.status == 401 and refused.headers["content-type"].startswith("application/problem+json")
    assert time.monotonic() - started < 15
    assert login(client, *site["admin"]).status == 200
    assert "Traceback" not in site["log"].read_text(errors="replace")
