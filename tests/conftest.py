"""Shared fixtures: real servers on loopback (PostgreSQL, Redis, SMTP, S3, plugdesk itself) and Chromium.

Each server is started by the fixture in a temp dir on a free port and stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realservers import free_port, make_certs, spawn, stop, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_PASSWORD = "admin-pass-for-tests-1"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """A session temp dir other users (postgres) can traverse (pytest's tmp dirs are 0700)."""
    d = Path(tempfile.mkdtemp(prefix="plugdesk-servers-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(workdir: Path) -> dict[str, str]:
    """A test CA and a server certificate for 127.0.0.1/localhost."""
    return make_certs(workdir / "certs")


@pytest.fixture(scope="session")
def postgres_server(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields a DSN prefix without database name."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql); the README test line installs it")
    bindir = bins[-1]
    d = workdir / "pg"
    d.mkdir()
    as_pg: dict[str, Any] = {}
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
        as_pg = {"user": "postgres", "group": "postgres", "extra_groups": []}
    subprocess.run([bindir / "initdb", "-D", d / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True, cwd=d, **as_pg)
    port = free_port()
    log = d / "postgres.log"
    proc = spawn([bindir / "postgres", "-D", d / "data", "-p", port, "-k", d, "-c", "listen_addresses=127.0.0.1",
                  "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                  "-c", "max_connections=200"], log, cwd=d, **as_pg)
    import psycopg

    wait_until(lambda: psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                                       connect_timeout=1).close() or True, proc, "postgres", log=log)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    stop(proc, signal.SIGINT)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    import secrets

    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    """A throwaway Redis."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    log = workdir / "redis.log"
    proc = spawn(["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--daemonize", "no", "--dir", workdir], log)
    import redis

    wait_until(lambda: redis.Redis(port=port, socket_connect_timeout=0.5).ping(), proc, "redis", log=log)
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


@pytest.fixture
def redis_clean(redis_url: str) -> str:
    """The Redis URL, flushed before the test."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    return redis_url


class SinkHandler:
    """aiosmtpd handler keeping every received message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.host = ""
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        import email
        import email.policy

        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "msg": email.message_from_bytes(envelope.content, policy=email.policy.default)})
        return "250 Message accepted for delivery"

    def delivered(self, app: Any) -> list[dict[str, Any]]:
        """What arrived once ``app``'s outbox was sent (test apps run no background worker)."""
        from core.testing import deliver_mail

        deliver_mail(app)
        return self.messages


@pytest.fixture
def smtp_sink() -> Iterator[SinkHandler]:
    """A real SMTP listener (aiosmtpd) on loopback; ``.messages`` holds what arrived."""
    from aiosmtpd.controller import Controller

    handler = SinkHandler()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    handler.host, handler.port = ctl.hostname, ctl.port
    yield handler
    ctl.stop()


@pytest.fixture(scope="session")
def s3_endpoint(workdir: Path) -> Iterator[str]:
    """A real S3 HTTP endpoint: ``moto_server`` as a separate process."""
    exe = Path(sys.executable).with_name("moto_server")
    port = free_port()
    log = workdir / "moto.log"
    proc = spawn([exe, "-H", "127.0.0.1", "-p", port], log)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: urllib.request.urlopen(f"{url}/moto-api/", timeout=1).status == 200, proc, "moto", log=log)
    yield url
    stop(proc)


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 client for the moto endpoint, with all state reset."""
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST")).read()
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# ----------------------------------------------------------------------------- plugdesk as a real server
def plugdesk_cmd(*args: str) -> list[str]:
    """Argv for the installed ``plugdesk`` console script of this interpreter."""
    return [str(Path(sys.executable).with_name("plugdesk")), *args]


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    """``start(extra_toml="", env=None) -> info``: ``plugdesk init`` + ``plugdesk serve`` as real processes."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(extra_toml: str = "", env: dict[str, str] | None = None, workers: int = 2,
              plugins: list[str] | None = None) -> dict[str, Any]:
        data = tmp_path / f"site{len(procs)}"
        port = free_port()
        pw = tmp_path / "admin.pw"
        pw.write_text(ADMIN_PASSWORD)
        subprocess.run(plugdesk_cmd("init", "--data-dir", str(data), "--admin-password-file", str(pw),
                                    "--base-url", f"http://127.0.0.1:{port}", "--port", str(port)),
                       check=True, capture_output=True)
        config = data / "plugdesk.toml"
        if plugins is not None:
            text = config.read_text()
            import re

            config.write_text(re.sub(r"enabled = \[.*\]", f"enabled = {plugins!r}".replace("'", '"'), text))
        if extra_toml:
            config.write_text(config.read_text() + "\n" + extra_toml)
        log = data / "serve.log"
        proc = spawn(plugdesk_cmd("--config", str(config), "serve", "--workers", str(workers)), log,
                     env={**os.environ, **(env or {})})
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200, proc,
                   "plugdesk serve", log=log)
        return {"url": url, "config": config, "data": data, "admin": ("admin", ADMIN_PASSWORD), "log": log,
                "proc": proc}

    yield start
    for proc in procs:
        stop(proc)


# ----------------------------------------------------------------------------- Playwright on Debian chromium
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use Debian's /usr/bin/chromium (never `playwright install`)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


ARTIFACTS = Path(__file__).parent / "e2e" / "artifacts"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``screenshot(page, "name")`` saves tests/e2e/artifacts/<test>-<name>.png (look at them)."""

    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# --- the fast set stays fast (issue 15 item 7) ------------------------------------------------------------------
#: An unmarked test that needs more CPU than this belongs in the slow set (``@pytest.mark.slow``).
FAST_TEST_CPU_SECONDS = 5.0
_cpu_hogs: list[tuple[str, float]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Measure the CPU time (not wall time: the machine is shared) of each test not marked slow."""
    if item.get_closest_marker("slow") is not None:
        return (yield)
    start = os.times()
    try:
        return (yield)
    finally:
        end = os.times()
        used = sum(end[i] - start[i] for i in range(4))  # user + system, this process and waited children
        if used > FAST_TEST_CPU_SECONDS:
            _cpu_hogs.append((item.nodeid, used))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the unmarked tests that should be marked slow."""
    if _cpu_hogs:
        terminalreporter.section("tests to mark slow")
        for nodeid, used in sorted(_cpu_hogs, key=lambda pair: -pair[1]):
            terminalreporter.write_line(f"{used:5.1f} s CPU  {nodeid}  (unmarked; add @pytest.mark.slow)")
