"""Write a new plugin package: ``scaffold(name, area, directory) -> Scaffold``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import HOOKS_VERSION
from core.plugin_kit import templates
from core.plugin_kit.areas import AREAS_BY_NAME
from core.plugin_kit.names import AREAS, check_name


class ScaffoldError(ValueError):
    """The package cannot be written (target exists, unknown area); the message is one line."""


def hooks_range(version: str = HOOKS_VERSION) -> str:
    """The contract range a new plugin declares: this minor version up to the next major, e.g. ``>=1.0,<2``."""
    major, minor = (version.split(".") + ["0"])[:2]
    return f">={int(major)}.{int(minor)},<{int(major) + 1}"


@dataclass
class Scaffold:
    """What was written."""

    name: str
    area: str
    root: Path
    module: str
    distribution: str
    files: list[Path] = field(default_factory=list)


def render(name: str, area: str, directory_name: str | None = None) -> dict[str, str]:
    """The package's files (relative path -> text) for plugin ``name`` in ``area``.

    :param directory_name: the package directory's name, for the install line (default ``plugdesk-NAME``).
    """
    directory_name = directory_name or f"plugdesk-{name.replace('_', '-')}"
    if area not in AREAS_BY_NAME:
        raise ScaffoldError(f"unknown area {area!r}; choose one of: {', '.join(AREAS)}")
    part = AREAS_BY_NAME[area]
    module = f"plugdesk_{name}"
    values = {"NAME": name, "MODULE": module, "DIST": f"plugdesk-{name.replace('_', '-')}", "RANGE": hooks_range(),
              "AREA": area, "CLASS": "".join(w.capitalize() for w in name.split("_")), "DIR": directory_name}
    hooks = ", ".join(f'"{h}"' for h in part.hooks)
    select = templates.fill(templates.SELECT.get(area, ""), values)
    files = {
        "pyproject.toml": templates.PYPROJECT,
        "README.md": templates.README.replace("__SELECT__\n", select + "\n" if select else ""),
        f"{module}/__init__.py": templates.MODULE_HEADER.replace("__IMPORTS__", part.imports)
        .replace("__KEYS__\n", part.keys + "\n" if part.keys else "") + part.body,
        "tests/test_plugin.py": templates.TEST_HEADER.replace("__IMPORTS__", part.test_imports)
        .replace("__OVERRIDES__", part.overrides).replace("__HOOKS__", f"({hooks},)") + part.tests,
    }
    return {path: templates.fill(text, values) for path, text in files.items()}


def scaffold(name: str, area: str = "other", directory: Path | str | None = None) -> Scaffold:
    """Create the package for plugin ``name`` in ``directory`` (default ``./plugdesk-NAME``).

    :raises core.plugin_kit.names.InvalidPluginName: the name is invalid, reserved or taken.
    :raises ScaffoldError: the area is unknown or the directory already exists.
    """
    check_name(name)
    root = Path(directory) if directory is not None else Path.cwd() / f"plugdesk-{name.replace('_', '-')}"
    files = render(name, area, root.name)
    if root.exists() or root.is_symlink():
        raise ScaffoldError(f"{root} already exists; choose another --dir or remove it")
    result = Scaffold(name=name, area=area, root=root, module=f"plugdesk_{name}",
                      distribution=f"plugdesk-{name.replace('_', '-')}")
    root.mkdir(parents=True)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.files.append(path)
    return result
