"""Type information ships with the packages, every hook implementation is typed, and mypy passes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_packages_ship_py_typed():
    assert (ROOT / "core" / "py.typed").is_file() and (ROOT / "plugins" / "py.typed").is_file()


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
        isinstance(target, ast.Attribute) and target.attr == "hookimpl")


def test_every_hook_implementation_in_plugins_is_typed():
    untyped = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef) or not any(map(_is_hookimpl, node.decorator_list)):
                continue
            params = [a for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if a.arg != "self"]
            missing = [a.arg for a in params if a.annotation is None]
            if node.returns is None:
                missing.append("return")
            if missing:
                untyped.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {', '.join(missing)}")
    assert not untyped, "annotate (ctx: PluginContext, ...):\n" + "\n".join(untyped)


@pytest.mark.slow
def test_mypy_passes_on_core_and_plugins():
    """About 25 s: the same check as the README's lint line (configuration in pyproject's [tool.mypy])."""
    run = subprocess.run([sys.executable, "-m", "mypy", "core", "plugins"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
