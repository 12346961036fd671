"""Render the "Value types" part of ``docs/hooks.md`` from the docstrings in :mod:`core.types`.

Every public dataclass, enum and abstract base class of :mod:`core.types` gets a section: its description,
then a table of its fields (name, type, default, meaning) or enum members, then its methods. Field meanings
come from the class docstring, in either style::

    Attributes:
        provider: the provider's name (``AuthProviderInfo.name``).
        external_id: a stable id in the provider's own system; continuation lines are
            indented further.

    :param provider: the provider's name.

``tests/core/test_type_docs.py`` fails when a field, member or method is undocumented, when a documented
name does not exist, or when ``docs/hooks.md`` was not regenerated (``python -m core.hookdocs``).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import inspect
import re
from typing import Any

from core import types as types_module

_ENTRY = re.compile(r"^(?::(?:param|ivar|cvar) (\w+):|(\w+)(?: \([^)]*\))?:)\s*(.*)$")


@dataclasses.dataclass(frozen=True)
class TypeDoc:
    """A class's documentation split into its description and one text per documented name."""

    description: str
    entries: dict[str, str]


def own_doc(cls: type) -> str:
    """The class's own docstring (not the signature dataclasses invent, nor a base class's)."""
    doc = cls.__dict__.get("__doc__") or ""
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return ""
    return inspect.cleandoc(doc)


def parse_doc(cls: type) -> TypeDoc:
    """Split a class docstring into prose and ``Attributes:`` / ``:param name:`` entries."""
    description: list[str] = []
    entries: dict[str, str] = {}
    current: str | None = None
    in_section = False
    for line in own_doc(cls).splitlines():
        stripped = line.strip()
        if stripped == "Attributes:":
            in_section, current = True, None
            continue
        indent = len(line) - len(line.lstrip())
        if in_section and stripped and indent == 0:
            in_section = False
        match = _ENTRY.match(stripped)
        starts_entry = match and (stripped.startswith(":") or (in_section and indent <= 4))
        if starts_entry and match:
            current = match.group(1) or match.group(2)
            entries[current] = match.group(3)
        elif current and stripped and indent > 0:
            entries[current] = f"{entries[current]} {stripped}".strip()
        else:
            current = None if not in_section else current
            if not in_section:
                description.append(line)
    return TypeDoc("\n".join(description).strip(), entries)


def value_types() -> list[type]:
    """The public dataclasses, enums and abstract base classes of :mod:`core.types`, in documentation order."""
    found = []
    for obj in _public():
        if not isinstance(obj, type) or not _ours(obj):
            continue
        if dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum) or inspect.isabstract(obj) \
                or type(obj) is abc.ABCMeta and not issubclass(obj, BaseException):
            found.append(obj)
    return found


def errors() -> list[type]:
    """The exception classes of :mod:`core.types`, in documentation order."""
    return [obj for obj in _public() if isinstance(obj, type) and issubclass(obj, BaseException) and _ours(obj)]


def _public() -> list[Any]:
    """The objects :mod:`core.types` exports, in the order of its ``__all__`` (the package's modules are grouped
    by theme, so their import order is not the order the documentation reads best in)."""
    return [getattr(types_module, name) for name in types_module.__all__]


def _ours(cls: type) -> bool:
    """Defined in :mod:`core.types` or one of its modules."""
    return cls.__module__ == types_module.__name__ or cls.__module__.startswith(f"{types_module.__name__}.")


def documented_names(cls: type) -> list[str]:
    """What must have an entry: dataclass fields, enum members, or annotated class attributes."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    if issubclass(cls, enum.Enum):
        return [member.name for member in cls]
    return [n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")]


def methods(cls: type) -> list[tuple[str, Any]]:
    """Public methods, class methods and properties the class itself defines (enum internals excluded)."""
    out = []
    for name, value in cls.__dict__.items():
        if name.startswith("_"):
            continue
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        if isinstance(value, property) or inspect.isfunction(func):
            out.append((name, value))
    return out


def markdown(text: str) -> str:
    """The docstrings' reST inline markup as Markdown: double backquotes and roles such as ``:class:`` become
    single backquotes."""
    text = re.sub(r":(?:class|meth|attr|func|data|mod|exc):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return markdown(text).replace("|", "\\|").replace("\n", " ")


def _signature(name: str, value: Any) -> str:
    if isinstance(value, property):
        return f"{name}"
    func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
    sig = str(inspect.signature(func)).replace("'", "")
    sig = re.sub(r"^\((self|cls)(, )?", "(", sig)
    return f"{name}{sig}"


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory()!r}`"
    return "required"


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return markdown(" ".join(doc.split("\n\n", 1)[0].split()))


def render_class(cls: type) -> str:
    """One ``### `Name` `` section."""
    doc = parse_doc(cls)
    kind = ("dataclass" if dataclasses.is_dataclass(cls) else "enum" if issubclass(cls, enum.Enum)
            else "abstract base class")
    parts = [f"### `{cls.__name__}`\n", f"*{kind}* - {markdown(doc.description)}\n"]
    if dataclasses.is_dataclass(cls):
        rows = [f"| `{f.name}` | `{_cell(str(f.type))}` | {_cell(_default(f))} | {_cell(doc.entries.get(f.name, ''))} |"
                for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        parts.append("| field | type | default | meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    elif issubclass(cls, enum.Enum):
        rows = [f"| `{m.name}` | `{m.value!r}` | {_cell(doc.entries.get(m.name, ''))} |" for m in cls]
        parts.append("| member | value | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    else:
        annotations = cls.__dict__.get("__annotations__", {})
        rows = [f"| `{n}` | `{_cell(str(t))}` | `{getattr(cls, n, None)!r}` | {_cell(doc.entries.get(n, ''))} |"
                for n, t in annotations.items() if not n.startswith("_")]
        if rows:
            parts.append("| attribute | type | default | meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    listed = methods(cls)
    if listed:
        abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
        lines = [f"- `{_signature(n, v)}`{' **(required)**' if n in abstract else ''}: {_first_paragraph(v)}"
                 for n, v in listed]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def render_types() -> str:
    """The whole "Value types" section of ``docs/hooks.md``."""
    intro = ("## Value types\n\nEverything a hook receives or returns, importable from `core` (defined in the "
             "`core/types/` package). Dataclasses are frozen snapshots unless noted: changing one never changes "
             "plugdesk's data. Generated from the docstrings by `python -m core.hookdocs`.\n")
    parts = [intro] + [render_class(cls) for cls in value_types()]
    errs = "\n".join(f"- `{cls.__name__}`: {_first_paragraph(cls)}" for cls in errors())
    parts.append(f"### Errors\n\n{errs}\n")
    return "\n".join(parts)
