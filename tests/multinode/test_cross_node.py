"""Promises that must hold across nodes: node A and node B share PostgreSQL, Redis and S3 (cluster.py)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plugins.captcha_builtin import reveal_answer
from tests.multinode.client import Http, Reply, form_fields, login_token
from tests.multinode.cluster import BIN, ROOT, Cluster

pytestmark = [pytest.mark.multinode, pytest.mark.slow]
A, B = 0, 1
PASSWORD = "Correct horse battery 9"


def new_user(cluster: Cluster, prefix: str = "u") -> dict[str, str]:
    """Register a customer through node A's API; return its username, email and password."""
    name = f"{prefix}{secrets.token_hex(4)}"
    user = {"username": name, "email": f"{name}@example.test", "password": PASSWORD}
    reply = cluster.http(A).post_json("/api/v1/auth/register", user)
    assert reply.status == 201, reply.text
    return user


def new_department(cluster: Cluster, token: str, **retention: Any) -> dict[str, Any]:
    """A public department (created by the admin through nginx)."""
    reply = cluster.http().post_json("/api/v1/departments", {"name": f"Dept {secrets.token_hex(4)}",
                                                             "public": True, **retention}, token=token)
    assert reply.status == 201, reply.text
    return dict(reply.json())


def login(client: Http, username: str, password: str) -> Reply:
    """``POST /api/v1/auth/login``."""
    return client.post_json("/api/v1/auth/login", {"username": username, "password": password})


def test_nginx_balances_round_robin_over_both_nodes(healthy_cluster: Cluster) -> None:
    seen = {healthy_cluster.http().get("/healthz").headers.get("x-upstream") for _ in range(6)}
    assert seen == {url.removeprefix("http://") for url in healthy_cluster.node_urls}


def test_lockout_counts_failures_from_both_nodes(healthy_cluster: Cluster) -> None:
    import redis

    redis.Redis.from_url(healthy_cluster.redis_url).flushall()
    limit = int(healthy_cluster.cli("settings", "get", "security.brute_force.max_failures").stdout.strip())
    user = new_user(healthy_cluster, "lock")
    nodes = [healthy_cluster.http(A), healthy_cluster.http(B)]
    for i in range(limit - 1):  # one short of the limit, alternating: not locked yet
        assert login(nodes[i % 2], user["username"], "wrong password").status == 401
    assert login(nodes[1], user["username"], user["password"]).status == 200  # success resets the count
    for i in range(limit):  # exactly the limit, alternating A, B, A, ...
        assert login(nodes[i % 2], user["username"], "wrong password").status == 401
    locked_a = login(nodes[A], user["username"], user["password"])
    locked_b = login(nodes[B], user["username"], user["password"])
    assert locked_a.status == locked_b.status == 401, "the account must be locked on both nodes"
    unknown = login(nodes[A], "nobody-" + secrets.token_hex(3), "x")
    assert locked_a.json()["detail"] == unknown.json()["detail"]  # same answer as for an unknown user


def test_reset_link_issued_on_one_node_works_on_the_other(healthy_cluster: Cluster) -> None:
    user = new_user(healthy_cluster, "reset")
    assert healthy_cluster.http(A).post_json("/api/v1/auth/password-reset", {"login": user["username"]}).status == 202
    deadline = time.monotonic() + 15
    mail = None
    while mail is None and time.monotonic() < deadline:
        mail = next((m for m in list(healthy_cluster.smtp.messages) if m["to"] == [user["email"]]
                     and m["msg"]["Subject"] == "Reset your password"), None)
        time.sleep(0.1)
    assert mail is not None, "no reset email reached the SMTP listener"
    link = re.search(r"https?://\S+/password-reset/\S+", mail["msg"].get_body(("plain",)).get_content())
    assert link and link.group(0).startswith(healthy_cluster.url), "links are built from server.base_url (nginx)"
    path = link.group(0)[len(healthy_cluster.url):]
    node_b = healthy_cluster.http(B)
    page = node_b.get(path)
    assert page.status == 200, page.text[:500]
    fields = form_fields(page.text)
    new_password = "Another long passphrase 42"
    done = node_b.call("POST", path, form={"csrf_token": fields["csrf_token"], "password": new_password,
                                           "confirm": new_password})
    assert done.status in (200, 302, 303), done.text[:500]
    assert login(healthy_cluster.http(A), user["username"], new_password).status == 200
    assert login(healthy_cluster.http(A), user["username"], user["password"]).status == 401
    again = node_b.call("POST", path, form={"csrf_token": fields["csrf_token"], "password": "Yet another one 77",
                                            "confirm": "Yet another one 77"})
    assert again.status >= 400 or "invalid" in again.text.lower() or "expired" in again.text.lower()
    assert login(healthy_cluster.http(A), user["username"], new_password).status == 200  # single use


def test_captcha_made_on_one_node_is_solved_on_the_other(healthy_cluster: Cluster) -> None:
    healthy_cluster.cli("settings", "set", "security.captcha.enabled", "true")
    try:
        time.sleep(1.1)  # runtime settings are cached for at most one second per process
        node_a = healthy_cluster.http(A)
        page = node_a.get("/register")
        assert page.status == 200 and "captcha_token" in page.text, page.text[:300]
        fields = form_fields(page.text)
        answer = reveal_answer(fields["captcha_token"], healthy_cluster.secret_key)
        node_b = Http(healthy_cluster.node_urls[B])
        node_b.cookies = dict(node_a.cookies)  # the same browser, now balanced to node B
        name = f"cap{secrets.token_hex(4)}"
        form = {"csrf_token": fields["csrf_token"], "captcha_token": fields["captcha_token"],
                "captcha_answer": answer, "username": name, "email": f"{name}@example.test",
                "display_name": "", "password": PASSWORD, "confirm": PASSWORD}
        done = node_b.call("POST", "/register", form=form)
        assert done.status in (302, 303), done.text[:800]
        assert login(node_a, name, PASSWORD).status == 200
        # the challenge was used on node B: node A refuses it (single use across nodes)
        replay = Http(healthy_cluster.node_urls[A])
        replay.cookies = dict(node_a.cookies)
        other = f"cap{secrets.token_hex(4)}"
        again = replay.call("POST", "/register", form={**form, "username": other, "email": f"{other}@example.test"})
        assert again.status == 400
        assert login(node_a, other, PASSWORD).status == 401
    finally:
        healthy_cluster.cli("settings", "set", "security.captcha.enabled", "false")
        time.sleep(1.1)


def test_same_file_uploaded_through_both_nodes_at_once_is_stored_once(healthy_cluster: Cluster) -> None:
    token = healthy_cluster.admin_token()
    dept = new_department(healthy_cluster, token)
    customers = [new_user(healthy_cluster, "up") for _ in range(2)]
    tokens = [login_token(healthy_cluster.http(A), c["username"], c["password"]) for c in customers]
    content = ("shared log line " + secrets.token_hex(16) + "\n").encode() * 20000  # ~1 MiB of text
    digest = hashlib.sha256(content).hexdigest()
    barrier = threading.Barrier(2)
    replies: list[Reply | None] = [None, None]

    def upload(node: int) -> None:
        client = healthy_cluster.http(node)
        barrier.wait(10)
        replies[node] = client.post_files("/api/v1/tickets", {"subject": f"same file {node}", "body": "see log",
                                                              "department_id": str(dept["id"])},
                                          [("server.log", content)], tokens[node])

    threads = [threading.Thread(target=upload, args=(n,)) for n in (A, B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for reply in replies:
        assert reply is not None and reply.status == 201, reply and reply.text[:500]
    shas = [r.json()["messages"][0]["attachments"][0]["sha256"] for r in replies if r is not None]
    assert shas == [digest, digest]
    assert healthy_cluster.sql("SELECT refcount, state FROM blobs WHERE digest = %s", digest) == [(2, "stored")]
    assert healthy_cluster.sql("SELECT count(*) FROM attachments WHERE blob_digest = %s", digest) == [(2,)]
    s3 = healthy_cluster.moto.client() if healthy_cluster.moto else None
    assert s3 is not None
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="plugdesk-files").get("Contents", []) if digest in o["Key"]]
    assert len(keys) == 1, keys
    for node, reply in zip((A, B), replies, strict=True):  # each customer downloads the bytes from the other node
        assert reply is not None
        attachment = reply.json()["messages"][0]["attachments"][0]
        got = healthy_cluster.http(1 - node).get(f"/api/v1/attachments/{attachment['id']}", token=tokens[node])
        assert got.status == 200 and hashlib.sha256(got.body).hexdigest() == digest


def test_two_retention_runs_at_once_act_on_each_ticket_once(healthy_cluster: Cluster) -> None:
    token = healthy_cluster.admin_token()
    dept = new_department(healthy_cluster, token, delete_after_days=1, lock_after_days=None, auto_close_days=None)
    user = new_user(healthy_cluster, "ret")
    user_token = login_token(healthy_cluster.http(A), user["username"], user["password"])
    ids = []
    for i in range(8):
        created = healthy_cluster.http(i % 2).post_json(
            "/api/v1/tickets", {"subject": f"old {i}", "body": "done", "department_id": dept["id"]}, token=user_token)
        assert created.status == 201, created.text
        ids.append(created.json()["id"])
        closed = healthy_cluster.http(i % 2).call("PATCH", f"/api/v1/tickets/{ids[-1]}", json_body={"status": "closed"},
                                                  token=user_token)
        assert closed.status == 200, closed.text
    now = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    argv = [str(BIN / "plugdesk"), "--config", str(healthy_cluster.config), "retention", "run", "--now", now,
            "--json"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    results = [json.loads(out) for out, _err in outputs]
    deleted = sum(r["departments"].get(dept["name"], {}).get("deleted", 0) for r in results)
    assert deleted == len(ids), results
    assert healthy_cluster.sql("SELECT count(*) FROM tickets WHERE department_id = %s", dept["id"]) == [(0,)]
    for ticket_id in ids:
        assert healthy_cluster.http().get(f"/api/v1/tickets/{ticket_id}", token=user_token).status == 404


def test_settings_change_on_one_node_is_effective_on_the_other_within_a_second(healthy_cluster: Cluster) -> None:
    token = healthy_cluster.admin_token(A)
    key = "security.password.min_length"
    before = healthy_cluster.http(B).get("/api/v1/settings/security", token=token).json()[key]
    target = before + 3
    try:
        changed = healthy_cluster.http(A).call("PATCH", "/api/v1/settings/security", json_body={key: target},
                                               token=token)
        assert changed.status == 200, changed.text
        started = time.monotonic()
        node_b = healthy_cluster.http(B)
        streak = 0  # node B runs two worker processes, each with its own cache: every read must agree
        while time.monotonic() - started < 5 and streak < 6:
            seen = node_b.get("/api/v1/settings/security", token=token).json()[key]
            streak = streak + 1 if seen == target else 0
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        assert streak == 6 and elapsed < 1.8, f"node B served the change consistently only after {elapsed:.2f} s"
        short = "Zq9" + "x" * (target - 4)
        name = f"set{secrets.token_hex(4)}"
        refused = node_b.post_json("/api/v1/auth/register", {"username": name, "email": f"{name}@example.test",
                                                             "password": short})
        assert refused.status == 422 and "password" in refused.json().get("errors", {}), refused.text
    finally:
        healthy_cluster.http(A).call("PATCH", "/api/v1/settings/security", json_body={key: before}, token=token)
