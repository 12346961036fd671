"""Load with faults: customers submit tickets with attachments, agents reply, while backends fail.

Runs against a multi-node cluster (``tests/multinode/cluster.py``: PostgreSQL, Redis, S3, SMTP, two
``plugdesk serve`` nodes behind nginx). A fixed number of requests is split over client threads; while they
run, a fault thread stops and restarts S3, stops and restarts Redis, restarts PostgreSQL, and kills one node
with ``kill -9`` in the middle of an upload (then starts it again). Afterwards every acknowledged (2xx) write
is read back - tickets, messages and attachment bytes by SHA-256 - and ``plugdesk storage gc`` +
``storage fsck`` must leave no problem.

Usage: ``python -m benchmarks.load_faults [--requests N] [--customers N] [--agents N]`` (prints the report
as JSON; exit status 1 if a promise was broken). The test ``tests/multinode/test_load_faults.py`` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.multinode.client import Http, Reply, login_token
from tests.multinode.cluster import ADMIN, Cluster, start_cluster

SUBJECT_TAG = "[load]"


@dataclass
class Write:
    """One acknowledged write: what the client sent and what the server answered."""

    kind: str  # "ticket" | "reply"
    ticket_id: int
    message_id: int
    body: str
    files: dict[str, str]  # filename -> sha256 the client sent


@dataclass
class Report:
    """Counts of one run; ``broken`` lists every broken promise (empty = pass)."""

    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    ok_2xx: int = 0
    client_4xx: int = 0
    unavailable_503: int = 0
    server_5xx_other: int = 0
    no_answer: int = 0
    writes_acknowledged: int = 0
    data_checked: int = 0
    files_checked: int = 0
    orphans_found: int = 0
    fsck_problems_before_gc: list[dict[str, Any]] = field(default_factory=list)
    fsck_after_gc: dict[str, Any] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    killed_upload: str = ""
    tracebacks_in_node_logs: int = 0
    seconds: float = 0.0
    broken: list[str] = field(default_factory=list)


class Ledger:
    """Thread-safe record of every answer and every acknowledged write."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.writes: list[Write] = []
        self.bad: list[str] = []
        self.done = 0

    def record(self, what: str, reply: Reply) -> None:
        """Count ``reply``; remember anything that is not a clear 2xx/4xx/503."""
        with self.lock:
            self.done += 1
            self.statuses[reply.status] += 1
            if reply.status >= 500 and reply.status != 503 or "Traceback" in reply.text:
                self.bad.append(f"{what}: {reply.status} {reply.text[:300]}")

    def ticket_ids(self) -> list[int]:
        """Acknowledged tickets so far."""
        with self.lock:
            return [w.ticket_id for w in self.writes if w.kind == "ticket"]


def text_file(pool: list[bytes]) -> tuple[str, bytes]:
    """A text attachment: a third of them share content from ``pool`` (deduplication under load)."""
    if pool and random.random() < 0.33:
        content = random.choice(pool)
    else:
        content = (f"log {secrets.token_hex(8)}\n" * random.randint(50, 4000)).encode()
    return f"f{secrets.token_hex(3)}.txt", content


def customer(ledger: Ledger, client: Http, token: str, creds: tuple[str, str], dept: int, quota: int,
             pool: list[bytes], pause: float) -> None:
    """Open tickets with attachments, reply to them, log in now and then."""
    mine: list[int] = []
    for i in range(quota):
        with guard(ledger, "customer"):
            customer_step(ledger, client, token, creds, dept, i, mine, pool)
        time.sleep(pause)


def customer_step(ledger: Ledger, client: Http, token: str, creds: tuple[str, str], dept: int, i: int,
                  mine: list[int], pool: list[bytes]) -> None:
    """One customer request."""
    roll = random.random()
    if roll < 0.1:
        ledger.record("login", client.post_json("/api/v1/auth/login", {"username": creds[0], "password": creds[1]}))
    elif roll < 0.65 or not mine:
        name, content = text_file(pool)
        body = f"help {secrets.token_hex(6)}"
        reply = client.post_files("/api/v1/tickets", {"subject": f"{SUBJECT_TAG} {i}", "body": body,
                                                      "department_id": str(dept)}, [(name, content)], token)
        ledger.record("create", reply)
        if reply.status == 201:
            data = reply.json()
            mine.append(data["id"])
            with ledger.lock:
                ledger.writes.append(Write("ticket", data["id"], data["messages"][0]["id"], body,
                                           {name: hashlib.sha256(content).hexdigest()}))
    else:
        ticket_id = random.choice(mine)
        post(ledger, client, token, ticket_id, pool, with_file=random.random() < 0.5)


def agent(ledger: Ledger, client: Http, token: str, quota: int, pool: list[bytes], pause: float) -> None:
    """Reply to acknowledged tickets (half of the replies with a file), read tickets now and then."""
    for _ in range(quota):
        with guard(ledger, "agent"):
            ids = ledger.ticket_ids()
            if not ids:
                ledger.record("list", client.get("/api/v1/tickets?limit=5", token=token))
            elif random.random() < 0.2:
                ledger.record("read", client.get(f"/api/v1/tickets/{random.choice(ids)}", token=token))
            else:
                post(ledger, client, token, random.choice(ids), pool, with_file=random.random() < 0.5)
        time.sleep(pause)


@contextmanager
def guard(ledger: Ledger, who: str) -> Iterator[None]:
    """A client-side surprise (an answer the script cannot parse) is a broken promise, not a dead thread."""
    try:
        yield
    except Exception as exc:
        with ledger.lock:
            ledger.done += 1
            ledger.bad.append(f"{who}: {exc.__class__.__name__}: {exc}")


def post(ledger: Ledger, client: Http, token: str, ticket_id: int, pool: list[bytes], with_file: bool) -> None:
    """One reply, recorded as a write when acknowledged."""
    body = f"reply {secrets.token_hex(6)}"
    files = [text_file(pool)] if with_file else []
    reply = client.post_files(f"/api/v1/tickets/{ticket_id}/messages", {"body": body}, files, token)
    ledger.record("reply", reply)
    if reply.status == 201:
        message = next(m for m in reply.json()["messages"] if m["body"] == body)
        with ledger.lock:
            ledger.writes.append(Write("reply", ticket_id, message["id"], body,
                                       {n: hashlib.sha256(c).hexdigest() for n, c in files}))


def faults(cluster: Cluster, ledger: Ledger, total: int, report: Report, stop: threading.Event) -> None:
    """Inject the faults at fixed fractions of the run (bounded waits throughout)."""
    assert cluster.moto is not None

    def at(fraction: float) -> bool:
        deadline = time.monotonic() + 120
        while ledger.done < total * fraction and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.05)
        return not stop.is_set()

    def note(text: str) -> None:
        report.faults.append(f"{ledger.done:4d}/{total}: {text}")

    steps: list[tuple[float, str, Any]] = [
        (0.10, "S3 stopped", cluster.moto.stop), (0.20, "S3 started", cluster.moto.start),
        (0.28, "Redis stopped", cluster.redis.stop), (0.38, "Redis started", cluster.redis.start),
        (0.46, "PostgreSQL stopped", cluster.postgres.stop), (0.52, "PostgreSQL started", cluster.postgres.start),
        (0.60, "node B killed (kill -9) mid-upload", lambda: kill_mid_upload(cluster, ledger, report)),
        (0.80, "node B started", cluster.nodes[1].start),
    ]
    for fraction, text, action in steps:
        if not at(fraction):
            note(f"load ended before: {text}")
            return
        try:
            action()
            note(text)
        except Exception as exc:
            note(f"{text} FAILED: {exc.__class__.__name__}: {exc}")


def kill_mid_upload(cluster: Cluster, ledger: Ledger, report: Report) -> None:
    """Send a large upload straight to node B and kill the node's whole process group while it streams."""
    token = login_token(cluster.http(0), *ADMIN)
    tickets = ledger.ticket_ids()
    answer: list[Reply] = []
    content = b"big upload line\n" * (1024 * 1024)  # 16 MiB of text
    upload = threading.Thread(target=lambda: answer.append(cluster.http(1).post_files(
        f"/api/v1/tickets/{tickets[-1]}/messages", {"body": "large"}, [("big.txt", content)], token)))
    upload.start()
    time.sleep(0.3)
    cluster.nodes[1].kill()
    upload.join(30)
    report.killed_upload = (f"{answer[0].status} {answer[0].error}" if answer else "no answer").strip()
    if answer and answer[0].status // 100 == 2:  # it finished before the kill: it is an acknowledged write
        message = next(m for m in answer[0].json()["messages"] if m["body"] == "large")
        with ledger.lock:
            ledger.writes.append(Write("reply", tickets[-1], message["id"], "large",
                                       {"big.txt": hashlib.sha256(content).hexdigest()}))


def verify(cluster: Cluster, ledger: Ledger, report: Report) -> None:
    """Read back every acknowledged write, check for half-created tickets, gc, fsck."""
    cluster.wait_healthy(60)
    client, token = cluster.http(), login_token(cluster.http(), *ADMIN)
    tickets: dict[int, Any] = {}
    for write in ledger.writes:
        if write.ticket_id not in tickets:
            got = client.get(f"/api/v1/tickets/{write.ticket_id}", token=token)
            if got.status != 200:
                report.broken.append(f"acknowledged ticket {write.ticket_id} unreadable: {got.status}")
                continue
            tickets[write.ticket_id] = got.json()
        message = next((m for m in tickets[write.ticket_id]["messages"] if m["id"] == write.message_id), None)
        if message is None or message["body"] != write.body:
            report.broken.append(f"acknowledged message {write.message_id} of ticket {write.ticket_id} lost")
            continue
        report.data_checked += 1
        stored = {a["filename"]: a for a in message["attachments"]}
        for name, digest in write.files.items():
            attachment = stored.get(name)
            data = client.get(f"/api/v1/attachments/{attachment['id']}", token=token) if attachment else None
            if data is None or data.status != 200 or hashlib.sha256(data.body).hexdigest() != digest:
                report.broken.append(f"file {name} of message {write.message_id}: "
                                     f"{'missing' if data is None else data.status}")
            report.files_checked += 1
    empty = cluster.sql("SELECT t.id FROM tickets t WHERE NOT EXISTS "
                        "(SELECT 1 FROM ticket_messages m WHERE m.ticket_id = t.id)")
    if empty:
        report.broken.append(f"half-created tickets without a message: {empty}")
    before = cluster.cli_json("storage", "fsck", "--grace-seconds", "0", check=False)
    report.fsck_problems_before_gc = before["problems"]
    report.orphans_found = sum(1 for p in before["problems"] if p["kind"] == "orphan")
    cluster.cli("storage", "gc", "--grace-seconds", "0")
    report.fsck_after_gc = cluster.cli_json("storage", "fsck", check=False)
    if report.fsck_after_gc["problems"]:
        report.broken.append(f"fsck after gc: {report.fsck_after_gc['problems']}")


def run(cluster: Cluster, requests: int = 400, customers: int = 6, agents: int = 2,
        pause: float = 0.05) -> Report:
    """Run the load with faults against ``cluster`` and verify; return the report."""
    started = time.monotonic()
    report = Report()
    admin = cluster.http()
    admin_token = login_token(admin, *ADMIN)
    dept = admin.post_json("/api/v1/departments", {"name": f"Load {secrets.token_hex(3)}", "public": True},
                           token=admin_token).json()["id"]
    accounts = []
    for _ in range(customers):
        name = f"load{secrets.token_hex(4)}"
        password = "Load test passphrase 1"
        made = admin.post_json("/api/v1/auth/register", {"username": name, "email": f"{name}@example.test",
                                                         "password": password})
        assert made.status == 201, made.text
        accounts.append(((name, password), login_token(admin, name, password)))
    pool = [(f"shared {i}\n" * 3000).encode() for i in range(3)]
    ledger = Ledger()
    per_thread = requests // (customers + agents)
    total = per_thread * (customers + agents)
    threads = [threading.Thread(target=customer, args=(ledger, cluster.http(), token, creds, dept, per_thread,
                                                       pool, pause)) for creds, token in accounts]
    threads += [threading.Thread(target=agent, args=(ledger, cluster.http(), login_token(admin, *ADMIN),
                                                     per_thread, pool, pause)) for _ in range(agents)]
    stop = threading.Event()
    for thread in threads:
        thread.start()
    # Faults run in this (main) thread: servers are spawned with PR_SET_PDEATHSIG, which fires when the
    # *thread* that started them ends - a server restarted from a short-lived thread would die with it.
    faults(cluster, ledger, total, report, stop)
    for thread in threads:
        thread.join(300)
    if cluster.moto is not None:  # whole again (start is a no-op for a running S3 helper)
        cluster.moto.start()
    for server in (cluster.redis, cluster.postgres, *cluster.nodes):
        if server.proc is None:
            server.start()
    verify(cluster, ledger, report)
    report.requests = ledger.done
    report.statuses = {str(k): v for k, v in sorted(ledger.statuses.items())}
    report.ok_2xx = sum(v for k, v in ledger.statuses.items() if 200 <= k < 300)
    report.client_4xx = sum(v for k, v in ledger.statuses.items() if 400 <= k < 500)
    report.unavailable_503 = ledger.statuses.get(503, 0)
    report.server_5xx_other = sum(v for k, v in ledger.statuses.items() if k >= 500 and k != 503)
    report.no_answer = ledger.statuses.get(0, 0)
    report.writes_acknowledged = len(ledger.writes)
    report.broken += ledger.bad
    if report.no_answer:
        report.broken.append(f"{report.no_answer} requests through nginx got no HTTP answer")
    unhandled = unhandled_errors("".join(node.log.read_text(errors="replace") for node in cluster.nodes))
    report.tracebacks_in_node_logs = len(unhandled)
    if unhandled:  # with their tracebacks: the node logs go away with the cluster's temp directory
        report.broken.append(f"{len(unhandled)} unhandled errors (500) in the node logs:\n" + "\n".join(unhandled))
    report.seconds = round(time.monotonic() - started, 1)
    return report


def unhandled_errors(logs: str) -> list[str]:
    """The "unhandled error on …" records of the nodes' JSON logs, each with the end of its traceback."""
    found = []
    for line in logs.splitlines():
        if "unhandled error on" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line[-3000:])
            continue
        found.append(f"{record.get('ts')} {record.get('msg')}\n{str(record.get('exc', ''))[-3000:]}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Start a cluster, run the load with faults, print the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--agents", type=int, default=2)
    args = parser.parse_args(argv)
    cluster = start_cluster()
    try:
        report = run(cluster, args.requests, args.customers, args.agents)
    finally:
        cluster.close()
    print(json.dumps(asdict(report), indent=2))
    return 1 if report.broken else 0


if __name__ == "__main__":
    sys.exit(main())
