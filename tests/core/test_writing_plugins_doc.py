"""Every code sample in docs/writing-plugins.md runs: the shell lines scaffold and list, the Python blocks are
assembled into the files their first-line comment names and their tests pass, the TOML blocks configure and
package the plugin for real."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
BLOCKS = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w+)\n(.*?)^```", DOC, re.M | re.S)]
BIN = Path(sys.executable).parent


def blocks(lang: str) -> list[str]:
    """The fenced blocks of one language, in order."""
    return [text for kind, text in BLOCKS if kind == lang]


def files_from_python_blocks() -> dict[str, str]:
    """Python blocks grouped into files: a block starting with ``# path`` starts that file, others continue it."""
    files: dict[str, str] = {}
    current = None
    for text in blocks("python"):
        first = text.splitlines()[0]
        if re.fullmatch(r"# [\w/]+\.py", first):
            current = first[2:]
            files[current] = ""
        assert current, "the first Python block must name its file"
        files[current] += ("\n\n" if files[current] else "") + text
    return files


def shell(line: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one documented command line with this environment's ``plugdesk``."""
    argv = shlex.split(line)
    argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


def test_every_sample_is_one_of_the_kinds_this_test_runs():
    kinds = [kind for kind, _ in BLOCKS]
    assert set(kinds) <= {"sh", "python", "toml"}, kinds
    assert kinds.count("python") >= 6 and kinds.count("sh") == 2 and kinds.count("toml") == 2
    assert set(files_from_python_blocks()) == {"plugdesk_word_filter/__init__.py", "tests/test_plugin.py"}
    for path, source in files_from_python_blocks().items():
        compile(source, path, "exec")


def scaffold_and_fill(tmp_path: Path) -> Path:
    """Section 1's command, then the guide's Python files over the scaffold's TODOs."""
    line = blocks("sh")[0].strip()
    assert line.startswith("plugdesk plugin new ") and "\n" not in line
    r = shell(line, tmp_path)
    assert r.returncode == 0, r.stderr
    package = tmp_path / shlex.split(line)[shlex.split(line).index("--dir") + 1]
    unwritten = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package,
                               capture_output=True, text=True, timeout=300)
    assert unwritten.returncode == 1 and "NotImplementedError" in unwritten.stdout
    for relative, source in files_from_python_blocks().items():
        assert (package / relative).exists(), f"the scaffold has no {relative}"
        (package / relative).write_text(source, encoding="utf-8")
    return package


@pytest.mark.slow  # scaffolds, then runs the scaffold's own pytest twice in subprocesses (~30-50 s)
def test_the_guides_plugin_passes_its_tests(tmp_path):
    package = scaffold_and_fill(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and int(re.search(r"(\d+) passed", summary).group(1)) >= 12


@pytest.mark.slow
def test_packaged_configured_and_listed(tmp_path):
    package = scaffold_and_fill(tmp_path)
    documented = tomllib.loads(blocks("toml")[1])
    scaffolded = tomllib.loads((package / "pyproject.toml").read_text())
    assert scaffolded["project"]["name"] == documented["project"]["name"]
    assert scaffolded["project"]["entry-points"] == documented["project"]["entry-points"]
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(package)], check=True, capture_output=True)
    config = tomllib.loads(blocks("toml")[0])
    enabled = json.dumps(config["plugins"]["enabled"])
    words = json.dumps(config["plugins"]["word_filter"]["words"])
    (tmp_path / "plugdesk.toml").write_text(
        f'[server]\ndata_dir = "{tmp_path}"\nsecret_key = "doc-test-secret-key"\n'
        f'[plugins]\nenabled = {enabled}\n\n[plugins.word_filter]\n'
        f'words = {words}\nreport_token = {{ "$env" = "WORD_FILTER_TOKEN" }}\n')
    env = {"PYTHONPATH": str(site), "PLUGDESK_CONFIG": str(tmp_path / "plugdesk.toml"),
           "WORD_FILTER_TOKEN": "s3cret-token"}
    assert shell("plugdesk db upgrade", tmp_path, env).returncode == 0
    listed = shell(blocks("sh")[1].strip() + " --json", tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    info = next(p for p in json.loads(listed.stdout) if p["name"] == "word_filter")
    assert info["distribution"] == "plugdesk-word-filter" and info["hooks_version"] == ">=1.0,<2"
    assert {"moderation_check", "parse_config", "register_blueprints", "settings_schema"} <= set(info["hooks"])
    config_file = tmp_path / "plugdesk.toml"
    config_file.write_text(config_file.read_text().replace(f"words = {words}", 'words = "casino"'))
    refused = shell("plugdesk plugins list", tmp_path, env)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "plugin 'word_filter'" in refused.stderr and "words: expected a list" in refused.stderr
