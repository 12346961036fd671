"""A restartable S3 endpoint for the multi-node tests: moto's ``ThreadedMotoServer`` in a helper process.

``python -m tests.multinode.s3 PORT`` serves S3 and reads commands on stdin (``stop``, ``start``, ``ping``;
each answered ``ok``). ``stop`` closes the listener - clients get connection refused, as with a dead S3 -
while the objects stay in the helper's memory, as they would in a real, durable S3 (a plain ``moto_server``
restart would lose every object, so acknowledged uploads could not be checked after the outage).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.realservers import port_open

ROOT = Path(__file__).resolve().parents[2]


class MotoControl:
    """The S3 helper process: ``stop()`` / ``start()`` the listener, objects are kept."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.multinode.s3", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "ab"),
                                     cwd=ROOT, text=True, preexec_fn=_pdeathsig)
        self._command("ping")

    def _command(self, word: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"moto helper answered {answer!r} to {word!r}")

    def start(self) -> None:
        """Listen again (same port, same objects)."""
        self._command("start")

    def stop(self) -> None:
        """Stop listening: clients get connection refused."""
        self._command("stop")

    def close(self) -> None:
        """End the helper process."""
        if self.proc.poll() is None:
            self.proc.stdin.close() if self.proc.stdin else None
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self) -> Any:
        """A boto3 client for the endpoint."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")


def _pdeathsig() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _moto_helper(port: int) -> None:
    """Serve S3 with moto on ``port``; stdin commands ``start`` / ``stop`` / ``ping`` answer ``ok``."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server: Any = None

    def start() -> None:
        nonlocal server
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if port_open(port):
                    return
            except OSError:
                time.sleep(0.05)

    start()
    for line in sys.stdin:
        word = line.strip()
        if word == "stop" and server is not None:
            server.stop()
            server = None
        elif word == "start" and server is None:
            start()
        print("ok", flush=True)
    if server is not None:
        server.stop()


if __name__ == "__main__" and len(sys.argv) == 2:
    _moto_helper(int(sys.argv[1]))
