"""Real processes: ``plugdesk worker`` killed with SIGKILL mid-batch, two workers on PostgreSQL, the worker
embedded in ``plugdesk serve`` behind a slow SMTP server, and ``[worker] embedded = false``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.migrate import upgrade
from core.outbox.models import OutboxMessage
from tests.conftest import plugdesk_cmd
from tests.outbox.conftest import smtp_url
from tests.realservers import spawn, stop, wait_until

pytestmark = pytest.mark.slow


def site(tmp_path: Path, db_url: str, mail_url: str, batch: int) -> Path:
    """A config for worker processes (no `serve`), its database migrated."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'''[server]
base_url = "https://help.example.com"
data_dir = "."
secret_key = "worker-test-secret-key"
[database]
url = "{db_url}"
[plugins]
enabled = ["auth_local"]
[mail]
url = "{mail_url}"
sender = "help@example.com"
[worker]
embedded = false
poll_ms = 100
batch_size = {batch}
''')
    upgrade(db_url)
    return config


def queue(config: Path, n: int) -> object:
    from core.app import create_app

    st = create_app(str(config)).extensions["plugdesk"]
    for i in range(n):
        st.ctx.mail.send(f"customer{i}@example.com", f"Update {i}", f"Message number {i}")
    return st


def states(st: object) -> dict[str, int]:
    with st.db.session() as s:  # type: ignore[attr-defined]
        return dict(s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return spawn(plugdesk_cmd("--config", str(config), "worker"), log)


def test_kill_9_mid_batch_then_restart_loses_nothing(tmp_path, smtp_server):
    sink = smtp_server(delay=0.05)
    config = site(tmp_path, f"sqlite:///{tmp_path / 'w.db'}", smtp_url(sink), batch=20)
    st = queue(config, 60)
    worker = start_worker(config, tmp_path / "w1.log")
    wait_until(lambda: len(sink.messages) >= 15, worker, "first worker", timeout=60, log=tmp_path / "w1.log")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    at_kill = len(sink.messages)
    assert at_kill < 60 and states(st).get("sending", 0) > 0  # killed mid-batch: claimed rows left behind
    worker = start_worker(config, tmp_path / "w2.log")
    wait_until(lambda: len(sink.message_ids()) == 60, worker, "restarted worker", timeout=90,
               log=tmp_path / "w2.log")
    stop(worker)
    assert worker.returncode == 0  # SIGTERM: finishes the message in flight and exits cleanly
    counts = sink.message_ids()
    assert len(counts) == 60, "a message was lost"
    assert sum(counts.values()) <= 61, f"more than the one message in flight was sent twice: {counts}"
    assert states(st) == {"sent": 60}


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_send_a_message_twice(tmp_path, smtp_server, postgres_url):
    sink = smtp_server(delay=0.005)
    config = site(tmp_path, postgres_url, smtp_url(sink), batch=5)
    st = queue(config, 200)
    workers = [start_worker(config, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        wait_until(lambda: len(sink.messages) >= 200, workers[0], "two workers", timeout=120,
                   log=tmp_path / "w0.log")
        time.sleep(0.5)  # anything sent twice would arrive now
    finally:
        for w in workers:
            stop(w)
    counts = sink.message_ids()
    assert len(counts) == 200 and set(counts.values()) == {1}, "a message was sent twice"
    assert states(st) == {"sent": 200}
    with st.db.session() as s:  # type: ignore[attr-defined]
        claimers = set(s.scalars(select(OutboxMessage.claimed_by)))
    assert len(claimers) == 2, f"both workers should have taken part: {claimers}"


def test_slow_smtp_server_does_not_slow_web_requests(live_server, smtp_server):
    sink = smtp_server(delay=5.0)  # accepts each message after 5 s
    desk = live_server(extra_toml=f'[mail]\nurl = "{smtp_url(sink)}"\nsender = "help@example.com"\n'
                                  '[worker]\npoll_ms = 100\n')
    url = desk["url"]

    def timed(req: urllib.request.Request | str) -> float:
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status in (200, 202)
        return time.perf_counter() - t

    def reset() -> urllib.request.Request:
        return urllib.request.Request(f"{url}/api/v1/auth/password-reset", data=json.dumps({"login": "admin"})
                                      .encode(), headers={"Content-Type": "application/json"}, method="POST")

    timed(reset())  # the worker picks it up and waits 5 s on the mail server
    time.sleep(0.5)
    latencies = [timed(target) for _ in range(6) for target in (reset(), f"{url}/login", f"{url}/healthz")]
    assert sink.messages == []  # the worker was stuck on the slow server the whole time
    assert max(latencies) < 1.0, f"a request waited on mail: {max(latencies):.2f} s"
    wait_until(lambda: len(sink.messages) >= 2, desk["proc"], "embedded worker", timeout=60, log=desk["log"])


def test_embedded_worker_off_then_plugdesk_worker_sends(live_server, smtp_server):
    sink = smtp_server()
    desk = live_server(extra_toml=f'[mail]\nurl = "{smtp_url(sink)}"\n[worker]\nembedded = false\n')
    req = urllib.request.Request(f"{desk['url']}/api/v1/auth/password-reset", method="POST",
                                 data=b'{"login": "admin"}', headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=10).status == 202
    time.sleep(2.5)
    assert sink.messages == []  # nobody sends: serve runs no worker
    out = subprocess.run(plugdesk_cmd("--config", str(desk["config"]), "worker", "--once", "--json"),
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["sent"] == 1 and sink.messages[0]["to"] == ["admin@localhost.localdomain"]


_SIGNAL_WHILE_LOCKED = """
import os, signal, threading
from core.worker.runner import stop_on_signals

stop = threading.Event()
stop_on_signals(stop)
with stop._cond:  # what the main thread holds inside Event.wait or a first handler's Event.set
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)  # parent's SIGTERM and PR_SET_PDEATHSIG, back to back
print("stopped" if stop.wait(10) else "not stopped")
"""


def test_a_stop_signal_landing_while_the_event_lock_is_held_still_stops_the_worker() -> None:
    import sys

    done = subprocess.run([sys.executable, "-c", _SIGNAL_WHILE_LOCKED], capture_output=True, text=True,
                          timeout=30, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "stopped", done.stderr
