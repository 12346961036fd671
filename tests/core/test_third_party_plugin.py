"""A separate pip-installable plugin distribution, installed and enabled by config, has its hooks called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "plugdesk-hello"
version = "1.2.3"

[project.entry-points."plugdesk.plugins"]
hello = "plugdesk_hello"
"""

MODULE = '''\
"""A third-party plugin that only knows pluggy's marker, not plugdesk's modules."""
import os

import pluggy

hookimpl = pluggy.HookimplMarker("plugdesk")
PLUGDESK_HOOKS_VERSION = ">=1.0,<2"


@hookimpl
def user_registered(user):
    with open(os.environ["HELLO_MARKER"], "a") as fh:
        fh.write(f"registered {user.username} as {user.role}\\n")
'''


def test_external_distribution_is_installed_enabled_and_called(tmp_path):
    src = tmp_path / "src"
    (src / "plugdesk_hello").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "plugdesk_hello" / "__init__.py").write_text(MODULE)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site), "HELLO_MARKER": str(tmp_path / "marker")}
    plugdesk = str(Path(sys.executable).with_name("plugdesk"))
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[plugins]\nenabled = ["auth_local", "hello"]\n')
    subprocess.run([plugdesk, "--config", str(config), "db", "upgrade"], check=True, env=env, capture_output=True)
    listing = subprocess.run([plugdesk, "--config", str(config), "plugins", "list", "--json"], check=True, env=env,
                             capture_output=True, text=True)
    hello = next(p for p in json.loads(listing.stdout) if p["name"] == "hello")
    assert hello == {"name": "hello", "version": "1.2.3", "distribution": "plugdesk-hello",
                     "hooks": ["user_registered"], "hooks_version": ">=1.0,<2"}
    (tmp_path / "pw").write_text("third party password")
    subprocess.run([plugdesk, "--config", str(config), "users", "create", "--username", "Tess", "--email",
                    "tess@example.com", "--role", "agent", "--password-file", str(tmp_path / "pw")],
                   check=True, env=env, capture_output=True)
    assert (tmp_path / "marker").read_text() == "registered Tess as agent\n"


def test_plugin_that_fails_to_import_names_the_plugin(tmp_path):
    src = tmp_path / "src"
    (src / "plugdesk_hello").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "plugdesk_hello" / "__init__.py").write_text("import not_a_real_module_xyz\n")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[plugins]\nenabled = ["auth_local", "hello"]\n')
    r = subprocess.run([str(Path(sys.executable).with_name("plugdesk")), "--config", str(config), "plugins", "list"],
                       env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert r.returncode == 1
    assert "plugin 'hello' failed to import (ModuleNotFoundError" in r.stderr
    assert "not_a_real_module_xyz" in r.stderr and r.stderr.count("\n") == 1
