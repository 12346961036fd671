"""A throwaway Dovecot IMAP server on loopback (recipe: shared/RECIPES.md section 6), stopped by PID.

Users live in a passwd-file in the server's temp dir; TLS uses the session's test CA (``certs`` fixture);
mail is delivered with IMAP APPEND.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.realservers import free_port, port_open, spawn, stop, wait_until

USERS = 300
CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_max_userip_connections = 50
shutdown_clients = yes
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%u
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot: ports, the CA that signed its certificate, users and their passwords."""

    root: Path
    port: int
    tls_port: int
    ca: str
    users: dict[str, str] = field(default_factory=dict)
    taken: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start in the foreground (``-F``) and wait until the IMAP port answers."""
        log = self.root / "stdout.log"
        self.proc = spawn(["dovecot", "-F", "-c", self.root / "dovecot.conf"], log)
        wait_until(lambda: port_open(self.port) and port_open(self.tls_port), self.proc, "dovecot",
                   log=self.root / "dovecot.log")

    def stop(self) -> None:
        """Stop the master by PID, then its children by PID (login and imap processes outlive the master)."""
        if self.proc is not None:
            children = _children(self.proc.pid)
            stop(self.proc)
            self.proc = None
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def restart(self) -> None:
        """Stop and start again on the same ports with the same mail."""
        self.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                port_open(self.port)
            except OSError:
                break
            time.sleep(0.05)
        self.start()

    def add_user(self) -> str:
        """A user nobody used yet, with an empty mailbox; its name (the password is in ``users``).

        The passwd-file is written once, before the start: Dovecot may keep reading a stale copy of a file
        changed twice within one second.
        """
        name = f"box{len(self.taken) + 1}"
        assert name in self.users, "out of throwaway users: raise USERS in tests/plugins/mail_imap/dovecot.py"
        self.taken.append(name)
        return name

    def client(self, user: str) -> imaplib.IMAP4_SSL:
        """A logged-in stdlib client over IMAPS with the test CA."""
        context = ssl.create_default_context(cafile=self.ca)
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=context)
        imap.login(user, self.users[user])
        return imap

    def append(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver messages by IMAP APPEND."""
        imap = self.client(user)
        try:
            for raw in messages:
                status, _ = imap.append(folder, None, imaplib.Time2Internaldate(time.time()), raw)
                assert status == "OK", status
        finally:
            imap.logout()

    def count(self, user: str, criteria: str = "ALL", folder: str = "INBOX") -> int:
        """How many messages match ``criteria`` in ``folder``."""
        imap = self.client(user)
        try:
            imap.select(folder)
            _, data = imap.uid("SEARCH", None, criteria)
            return len(data[0].split()) if data and data[0] else 0
        finally:
            imap.logout()


def _children(parent: int) -> list[int]:
    """PIDs whose parent is ``parent`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def make_dovecot(certs: dict[str, str]) -> Dovecot:
    """Write a config in a new temp dir (traversable by the ``dovecot`` user) and start the server."""
    root = Path(tempfile.mkdtemp(prefix="plugdesk-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    shutil.chown(root / "mail", "dovecot", "dovecot")
    server = Dovecot(root, free_port(), free_port(), certs["ca"])
    server.users = {f"box{n}": f"box{n}-pass" for n in range(1, USERS + 1)}
    (root / "users").write_text("".join(f"{u}:{{PLAIN}}{pw}\n" for u, pw in server.users.items()))
    (root / "dovecot.conf").write_text(CONF.format(d=root, cert=certs["cert"], key=certs["key"], port=server.port,
                                                   tls_port=server.tls_port))
    server.start()
    return server


def remove(server: Dovecot) -> None:
    """Stop the server and delete its directory."""
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
