"""A multi-node plugdesk deployment on loopback, as production runs it (see docs/deployment.md).

PostgreSQL, Redis, an S3 endpoint (moto), an SMTP listener (aiosmtpd), two ``plugdesk serve`` nodes as
separate process groups sharing one ``plugdesk.toml``, and nginx balancing round-robin between them.
Every server can be stopped and started again on the same port, so tests can inject faults.

The S3 endpoint is moto's ``ThreadedMotoServer`` inside a small helper process (``python -m
tests.multinode.s3 PORT``, see s3.py) that stops and starts the HTTP listener on request: the listener
goes away (connection refused, as with a dead S3) while the objects survive in the helper's memory, as
they would in a real, durable S3. A plain ``moto_server`` restart would lose every object.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.multinode.client import Http, login_token
from tests.multinode.s3 import MotoControl
from tests.realservers import free_port, port_open, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN = ("admin", "Cluster admin pass 1")
BUCKET = "plugdesk-files"
PLUGINS = ["auth_local", "captcha_builtin", "storage_s3", "moderation_newusers", "retention_departments",
           "notify_email"]

CONFIG = """\
# one file for every node (docs/deployment.md)
[server]
base_url = "{base_url}"
data_dir = "."
secret_key = {{ "$file" = "secret_key" }}
trusted_proxies = 1

[database]
url = "postgresql+psycopg://postgres@127.0.0.1:{pg}/plugdesk"

[limits]
storage = "redis://127.0.0.1:{redis}/0"

[plugins]
enabled = {plugins}

[plugins.storage_s3]
bucket = "{bucket}"
endpoint_url = "http://127.0.0.1:{s3}"
access_key_id = "testing"
secret_access_key = {{ "$file" = "s3_secret" }}
connect_timeout = 1
read_timeout = 5
max_attempts = 2

[storage]
backend = "s3"

[mail]
url = "smtp://127.0.0.1:{smtp}"
sender = "desk@example.test"
"""

UNAVAILABLE = json.dumps({"type": "about:blank", "title": "Temporarily unavailable", "status": 503,
                          "detail": "No plugdesk node answered; try again shortly."})
NGINX = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_max_body_size 64m;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream plugdesk {{
    server 127.0.0.1:{a} max_fails=1 fail_timeout=2s;
    server 127.0.0.1:{b} max_fails=1 fail_timeout=2s;
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://plugdesk;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout http_502;
      proxy_read_timeout 60s;
      add_header X-Upstream $upstream_addr always;
    }}
    error_page 502 504 =503 /_unavailable;
    location = /_unavailable {{
      internal;
      default_type application/problem+json;
      add_header Retry-After 5 always;
      return 503 '{unavailable}';
    }}
  }}
}}
"""


def plugdesk(config: Path, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``plugdesk`` CLI against ``config``; raise with its stderr when ``check`` and it fails."""
    result = subprocess.run([str(BIN / "plugdesk"), "--config", str(config), *args], capture_output=True,
                            text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode:
        raise RuntimeError(f"plugdesk {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass
class Server:
    """One restartable server process: the argv and the readiness check stay, the process changes."""

    name: str
    argv: list[Any]
    log: Path
    ready: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and wait until it answers.

        Call it from a thread that outlives the server (the main thread): ``spawn`` sets
        ``PR_SET_PDEATHSIG``, which signals the child when the *thread* that forked it ends.
        """
        self.proc = spawn(self.argv, self.log, **self.kwargs)
        wait_until(self.ready, self.proc, self.name, timeout=60, log=self.log)

    def stop(self) -> None:
        """Stop it (and its process group, for nodes started in their own session)."""
        if self.proc is not None:
            stop(self.proc, self.stop_signal)
            self.proc = None

    def kill(self) -> None:
        """``kill -9`` the whole process group: a node dying mid-request, workers and all."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        """Stop, then start on the same port."""
        self.stop()
        self.start()


def _healthy(url: str) -> bool:
    return urllib.request.urlopen(f"{url}/healthz", timeout=2).status == 200


class Cluster:
    """Everything of the deployment; build with :meth:`start`, end with :meth:`close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: dict[str, Server] = {}
        self.moto: MotoControl | None = None
        self.smtp: Any = None
        self._smtp_controller: Any = None
        self.config = root / "site" / "plugdesk.toml"
        self.nodes: list[Server] = []
        self.node_urls: list[str] = []
        self.url = ""
        self.pg_dsn = ""
        self.redis_url = ""
        self.secret_key = ""

    # ------------------------------------------------------------------ servers
    def _postgres(self) -> Server:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        d = self.root / "pg"
        d.mkdir()
        as_pg: dict[str, Any] = {}
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
            as_pg = {"user": "postgres", "group": "postgres", "extra_groups": []}
        subprocess.run([bins[-1] / "initdb", "-D", d / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True, cwd=d, **as_pg)
        port = free_port()
        self.pg_dsn = f"postgresql://postgres@127.0.0.1:{port}"

        def ready() -> bool:
            import psycopg

            psycopg.connect(f"{self.pg_dsn}/postgres", connect_timeout=1).close()
            return True

        return Server("postgres", [bins[-1] / "postgres", "-D", d / "data", "-p", port, "-k", d,
                                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                   "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                                   "-c", "max_connections=200"],
                      d / "postgres.log", ready, {"cwd": d, **as_pg}, stop_signal=signal.SIGINT)

    def _redis(self) -> Server:
        port = free_port()
        self.redis_url = f"redis://127.0.0.1:{port}/0"

        def ready() -> bool:
            import redis

            return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())

        return Server("redis", ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--daemonize", "no", "--dir", self.root],
                      self.root / "redis.log", ready)

    def _node(self, index: int, port: int) -> Server:
        url = f"http://127.0.0.1:{port}"
        return Server(f"node{'AB'[index]}", [BIN / "plugdesk", "--config", self.config, "serve", "--host",
                                              "127.0.0.1", "--port", port, "--workers", "2"],
                      self.root / f"node{'AB'[index]}.log", lambda: _healthy(url),
                      {"cwd": ROOT, "start_new_session": True})

    def start(self) -> Cluster:
        """Start every server, write the config, migrate, create the admin, start nodes and nginx."""
        from aiosmtpd.controller import Controller

        from tests.conftest import SinkHandler

        for name, server in (("postgres", self._postgres()), ("redis", self._redis())):
            self.servers[name] = server
            server.start()
        import psycopg

        with psycopg.connect(f"{self.pg_dsn}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE plugdesk")
        self.moto = MotoControl(free_port(), self.root / "moto.log")
        self.moto.client().create_bucket(Bucket=BUCKET)
        self.smtp = SinkHandler()
        self._smtp_controller = Controller(self.smtp, hostname="127.0.0.1", port=free_port())
        self._smtp_controller.start()
        self.smtp.host, self.smtp.port = self._smtp_controller.hostname, self._smtp_controller.port

        ports = [free_port(), free_port()]
        proxy_port = free_port()
        self.url = f"http://127.0.0.1:{proxy_port}"
        site = self.config.parent
        site.mkdir(parents=True)
        self.secret_key = os.urandom(32).hex()
        (site / "secret_key").write_text(self.secret_key + "\n")
        (site / "s3_secret").write_text("testing\n")
        self.config.write_text(CONFIG.format(base_url=self.url, pg=self.pg_dsn.rsplit(":", 1)[1],
                                             redis=self.redis_url.split(":")[2].split("/")[0],
                                             plugins=json.dumps(PLUGINS), bucket=BUCKET, s3=self.moto.port,
                                             smtp=self.smtp.port))
        plugdesk(self.config, "db", "upgrade")
        (site / "admin.pw").write_text(ADMIN[1])
        plugdesk(self.config, "users", "create", "--username", ADMIN[0], "--email", "admin@example.test",
                 "--role", "admin", "--password-file", str(site / "admin.pw"))
        self.nodes = [self._node(i, p) for i, p in enumerate(ports)]
        self.node_urls = [f"http://127.0.0.1:{p}" for p in ports]
        for node in self.nodes:
            node.start()
        d = self.root / "nginx"
        d.mkdir()
        (d / "nginx.conf").write_text(NGINX.format(d=d, a=ports[0], b=ports[1], port=proxy_port,
                                                     unavailable=UNAVAILABLE))
        self.servers["nginx"] = Server("nginx", ["/usr/sbin/nginx", "-c", d / "nginx.conf", "-p", d,
                                                 "-g", "daemon off;"], d / "nginx.log",
                                       lambda: port_open(proxy_port))
        self.servers["nginx"].start()
        return self

    def close(self) -> None:
        """Stop everything this cluster started, by PID."""
        for node in self.nodes:
            node.kill()
        for name in ("nginx", "redis", "postgres"):
            if name in self.servers:
                self.servers[name].stop()
        if self.moto is not None:
            self.moto.close()
        if self._smtp_controller is not None:
            self._smtp_controller.stop()

    # ------------------------------------------------------------------ conveniences
    @property
    def postgres(self) -> Server:
        """The PostgreSQL server."""
        return self.servers["postgres"]

    @property
    def redis(self) -> Server:
        """The Redis server."""
        return self.servers["redis"]

    def http(self, node: int | None = None) -> Http:
        """A client for nginx (``None``) or one node directly (0 = A, 1 = B)."""
        return Http(self.url if node is None else self.node_urls[node])

    def admin_token(self, node: int | None = None) -> str:
        """A bearer token of the admin."""
        return login_token(self.http(node), *ADMIN)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``plugdesk --config <cluster config> ARGS``."""
        return plugdesk(self.config, *args, check=check)

    def cli_json(self, *args: str, check: bool = True) -> Any:
        """Run a ``--json`` CLI command and parse its output (``check=False``: also when it exits non-zero)."""
        return json.loads(self.cli(*args, "--json", check=check).stdout)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the plugdesk database (read-only checks)."""
        import psycopg

        with psycopg.connect(f"{self.pg_dsn}/plugdesk", autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def wait_healthy(self, timeout: float = 30) -> None:
        """Wait until both nodes answer ``/healthz`` with 200."""
        for url in self.node_urls:
            wait_until(lambda u=url: _healthy(u), None, f"{url}/healthz", timeout=timeout)


def start_cluster(root: Path | None = None) -> Cluster:
    """Start a cluster in ``root`` (a fresh temp dir other users can traverse when ``None``)."""
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="plugdesk-cluster-"))
        os.chmod(root, 0o755)
    cluster = Cluster(root)
    try:
        return cluster.start()
    except BaseException:
        cluster.close()
        raise
