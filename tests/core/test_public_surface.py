"""One public surface: plugins import ``core`` and ``core.testing`` only, and core names no plugin."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import core
import core.types

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"core", "core.testing"}
IN_TREE = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))
#: Names the in-tree plugins register (providers, backends): core must not spell them either.
PROVIDER_NAMES = {"local", "builtin", "recaptcha", "fs", "s3"}
#: Where core may name plugins: the defaults (DEFAULT_PLUGINS, [storage] backend, ...), the scaffold's
#: templates and reserved names, and the migration history.
NAMING_ALLOWED = ("core/settings.py", "core/plugin_kit/", "core/migrations/")


def core_imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import of ``core`` or a submodule, anywhere in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "core":  # ``from core import testing`` is ``core.testing``
                names = [f"core.{a.name}" if a.name == "testing" else "core" for a in node.names]
        else:
            continue
        for name in names:
            if name == "core" or name.startswith("core."):
                yield node.lineno, name


def offending_imports(path: Path, source: str) -> list[str]:
    return [f"{path}:{line}: imports {name}" for line, name in core_imports(ast.parse(source))
            if name not in ALLOWED]


def test_plugins_import_only_core_and_core_testing():
    problems = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        problems += offending_imports(path.relative_to(ROOT), path.read_text(encoding="utf-8"))
    assert not problems, "plugins may import only core and core.testing:\n" + "\n".join(problems)


def test_the_guides_samples_import_only_core_and_core_testing():
    guide = ROOT / "docs" / "writing-plugins.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert blocks
    problems = []
    for number, block in enumerate(blocks, 1):
        try:
            tree = ast.parse(block)
        except SyntaxError:  # a fragment; check its import lines alone
            tree = ast.parse("\n".join(line for line in block.splitlines() if line.startswith(("from ", "import "))))
        problems += [f"python sample {number}, line {line}: imports {name}"
                     for line, name in core_imports(tree) if name not in ALLOWED]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_private_import():
    assert offending_imports(Path("x.py"), "from core.auth.hashing import verify\n")
    assert offending_imports(Path("x.py"), "def f():\n    import core.tickets.bulk\n")
    assert not offending_imports(Path("x.py"), "from core import hookimpl\nfrom core.testing import create_user\n")


def test_every_contract_type_is_exported_by_core():
    public = {name for name, obj in vars(core.types).items()
              if not name.startswith("_") and inspect.isclass(obj) and obj.__module__.startswith("core.types.")}
    assert public == set(core.types.__all__), "core.types.__all__ lists every type of its modules"
    missing = sorted(name for name in public if getattr(core, name, None) is not getattr(core.types, name))
    assert not missing, f"add to core/__init__.py: {missing}"
    assert set(core.__all__) <= set(dir(core))
    for name in ("hookimpl", "HOOKS_VERSION", "__version__", "PluginContext", "PluginConfigError", "StorageError",
                 "StorageUnavailable", "BlobNotFound", "MailError", "TicketInfo", "DepartmentInfo"):
        assert name in core.__all__, name


def test_the_context_offers_the_services_policies_need(plugdesk_app):
    ctx = plugdesk_app.extensions["plugdesk"].ctx
    assert isinstance(ctx, core.PluginContext)
    assert isinstance(ctx.departments, core.Departments) and isinstance(ctx.tickets, core.TicketOperations)
    assert isinstance(ctx.passwords, core.Passwords) and isinstance(ctx.mail, core.PluginMail)
    stored = ctx.passwords.hash("s3cret words")
    assert ctx.passwords.verify(stored, "s3cret words") and not ctx.passwords.verify(stored, "other")
    assert not ctx.passwords.verify("not a hash", "x") and not ctx.passwords.needs_rehash(stored)


def test_importing_core_stays_light():
    code = ("import sys, core; heavy = [m for m in ('boto3', 'botocore', 'ldap3', 'flask', 'feedgen') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


#: Modules a default deployment (SQLite, fs storage, built-in captcha, local accounts) never needs in the web
#: processes; `serve` builds the app before forking its workers, so whatever it imports every worker carries.
NOT_IN_SERVE = ("sqlalchemy.dialects.postgresql", "smtplib", "email.mime", "email.policy", "core.outbox.delivery",
                "core.inbound.parse", "core.plugin_kit", "tomlkit", "core.ops.backup", "boto3", "ldap3", "authlib",
                "psycopg", "redis", "alembic", "imapclient", "PIL")


@pytest.mark.slow  # a fresh interpreter builds the app: ~6 s of CPU
def test_serve_builds_the_default_app_without_what_it_never_uses(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("a long enough admin password")
    subprocess.run([str(Path(sys.executable).parent / "plugdesk"), "init", "--data-dir", str(tmp_path / "d"),
                    "--admin-password-file", str(pw)], check=True, capture_output=True, cwd=ROOT)
    code = ("import sys, click; from core.cli import main; "
            "serve = main.get_command(click.Context(main), 'serve'); "
            "from core.serve import run; from core.worker.runner import start_embedded; "
            f"from core.app import create_app; create_app({str(tmp_path / 'd' / 'plugdesk.toml')!r}); "
            f"print(','.join(m for m in {NOT_IN_SERVE!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def _code_strings_and_names(tree: ast.AST) -> Iterator[tuple[int, str, bool]]:
    """``(line, text, is_string)`` for string constants (docstrings excluded) and identifiers."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value, True
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id, False
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr, False


def test_core_names_no_in_tree_plugin():
    assert "auth_local" in IN_TREE and "retention_departments" in IN_TREE
    plugin_word = re.compile(r"\b(" + "|".join(map(re.escape, IN_TREE)) + r")\b")
    problems = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(NAMING_ALLOWED):
            continue
        for line, text, is_string in _code_strings_and_names(ast.parse(path.read_text(encoding="utf-8"))):
            if plugin_word.search(text) or (is_string and text in PROVIDER_NAMES):
                problems.append(f"{rel}:{line}: {text!r}")
    assert not problems, ("core must not name specific plugins (take names from the registries or the "
                          "settings defaults):\n" + "\n".join(problems))
