"""Evolving the hook contract: deprecated hook and argument names keep working for one minor version.

While ``HOOKS_VERSION`` is below an entry's removal version, an implementation under the old name (or with
the old argument name) is registered as the new one, with a :class:`DeprecationWarning` naming the
replacement; afterwards it is refused as unknown. Both tables are empty in the current contract.
"""

from __future__ import annotations

import inspect
import keyword
import logging
import warnings
from collections.abc import Callable
from typing import Any

import pluggy
from packaging.version import Version

from core import HOOKS_VERSION, PROJECT_NAME

log = logging.getLogger("plugdesk.plugins")

#: Renamed hooks: old name -> (new name, HOOKS_VERSION from which the old name is refused). While
#: ``HOOKS_VERSION`` is below the removal version, an implementation under the old name is registered as
#: the new hook with a :class:`DeprecationWarning` naming the replacement. Empty in contract 1.0.
DEPRECATED_HOOKS: dict[str, tuple[str, str]] = {}

#: Renamed hook arguments: (hook, old argument) -> (new argument, removal version). An implementation that
#: still names the old argument is called with the new argument's value under the old name, with a warning.
DEPRECATED_ARGS: dict[tuple[str, str], tuple[str, str]] = {}

def still_supported(removal: str) -> bool:
    return Version(HOOKS_VERSION) < Version(removal)


def deprecation_notes() -> list[str]:
    """One line per deprecated hook or argument (for ``docs/hooks.md``)."""
    notes = [f"hook `{old}` is deprecated: use `{new}`; removed in {removal}"
             for old, (new, removal) in sorted(DEPRECATED_HOOKS.items())]
    notes += [f"argument `{arg}` of `{hook}` is deprecated: use `{new}`; removed in {removal}"
              for (hook, arg), (new, removal) in sorted(DEPRECATED_ARGS.items())]
    return notes


def _warn(plugin: str, message: str) -> None:
    text = f"plugin {plugin!r}: {message}"
    warnings.warn(text, DeprecationWarning, stacklevel=3)
    log.warning("%s", text)


class ContractManager(pluggy.PluginManager):
    """Maps deprecated hook names to their replacement (pluggy's ``specname``) with a warning."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None or opts.get("specname") or name not in DEPRECATED_HOOKS:
            return opts
        new, removal = DEPRECATED_HOOKS[name]
        if not still_supported(removal):
            return opts  # reported as an unknown hook, with the replacement's name
        _warn(self.registering, f"hook {name!r} is deprecated and will stop working in hook contract "
                                 f"{removal}; rename it to {new!r}")
        return {**opts, "specname": new}

    registering: str = "?"  # the plugin being registered (named in warnings)


def _adapter(func: Callable[..., Any], renames: dict[str, str]) -> Callable[..., Any]:
    """A function taking the new argument names that calls ``func`` with the old ones."""
    args = list(inspect.signature(func).parameters)
    names = [renames.get(a, a) for a in args]
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        return func
    source = (f"def {func.__name__}({', '.join(names)}):\n"
              f"    return _func({', '.join(f'{a}={renames.get(a, a)}' for a in args)})\n")
    scope: dict[str, Any] = {"_func": func}
    exec(compile(source, f"<deprecated arguments of {func.__name__}>", "exec"), scope)  # identifiers only
    wrapped = scope[func.__name__]
    setattr(wrapped, f"{PROJECT_NAME}_impl", getattr(func, f"{PROJECT_NAME}_impl"))
    return wrapped


class AdaptedPlugin:
    """A copy of a plugin whose hook functions were adapted to new argument names (hashable, unlike a
    ``SimpleNamespace``, so pluggy can keep it in sets)."""


def adapt_deprecated_args(name: str, plugin: object) -> object:
    """``plugin`` itself, or a namespace copy whose hook functions use the new argument names."""
    if not DEPRECATED_ARGS:
        return plugin
    replaced: dict[str, Any] = {}
    for attr in dir(plugin):
        func = getattr(plugin, attr, None)
        opts = getattr(func, f"{PROJECT_NAME}_impl", None)
        if not callable(func) or not isinstance(opts, dict):
            continue
        hook = opts.get("specname") or DEPRECATED_HOOKS.get(attr, (attr, ""))[0]
        renames = {}
        for arg in inspect.signature(func).parameters:
            new, removal = DEPRECATED_ARGS.get((hook, arg), (None, ""))
            if new and still_supported(removal):
                renames[arg] = new
                _warn(name, f"argument {arg!r} of hook {hook!r} is deprecated and will stop working in hook "
                            f"contract {removal}; rename it to {new!r}")
        if renames:
            replaced[attr] = _adapter(func, renames)
    if not replaced:
        return plugin
    copy = AdaptedPlugin()
    for attr in dir(plugin):
        if not attr.startswith("__"):
            setattr(copy, attr, getattr(plugin, attr))
    for attr, func in replaced.items():
        setattr(copy, attr, func)
    return copy
