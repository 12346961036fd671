"""Build the plugin manager from settings: discovery, validation, compatibility, per-plugin config."""

from __future__ import annotations

import difflib
import importlib.metadata as md
import inspect
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from core import HOOKS_VERSION, PROJECT_NAME, hookspecs
from core.context import PluginContext
from core.plugin_calls import HookCalls, PluginCallError
from core.plugin_compat import DEPRECATED_ARGS as DEPRECATED_ARGS
from core.plugin_compat import DEPRECATED_HOOKS as DEPRECATED_HOOKS
from core.plugin_compat import ContractManager, adapt_deprecated_args
from core.plugin_compat import deprecation_notes as deprecation_notes
from core.settings import Settings
from core.types import PluginConfigError

ENTRY_POINT_GROUP = "plugdesk.plugins"

log = logging.getLogger("plugdesk.plugins")


class StartupError(Exception):
    """The app cannot start; the message names the plugin (or setting) and the fix."""


@dataclass(frozen=True)
class PluginInfo:
    """What ``plugdesk plugins list`` and the Plugins page show."""

    name: str
    version: str
    distribution: str
    hooks: tuple[str, ...]
    hooks_version: str


def available_plugins() -> dict[str, md.EntryPoint]:
    """Installed plugins by name (entry-point group ``plugdesk.plugins``); nothing is imported.

    Reading every installed distribution's metadata is the costliest part of building an app, so the scan is
    kept until ``sys.path`` or the modification time of one of its entries changes (a package installed or
    removed), as it never does while a server runs and seldom while tests build hundreds of apps.
    """
    key = tuple((entry, _mtime(entry)) for entry in sys.path)
    if _SCAN.get("key") != key:
        _SCAN.update(key=key, found={ep.name: ep for ep in md.entry_points(group=ENTRY_POINT_GROUP)}, dists={})
    return dict(_SCAN["found"])


def distribution_of(ep: md.EntryPoint) -> tuple[str, str]:
    """``(version, distribution name)`` of the package providing ``ep``, read once per scan (parsing a
    package's metadata costs more than importing an already imported plugin)."""
    dists = _SCAN.setdefault("dists", {})
    if ep.name not in dists:
        dists[ep.name] = (ep.dist.version, ep.dist.name) if ep.dist else ("unknown", "unknown")
    return dists[ep.name]


_SCAN: dict[str, Any] = {}


def _mtime(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


def loadable_defaults() -> list[str]:
    """The default embedded plugins (``DEFAULT_PLUGINS``) that are installed and import cleanly."""
    from core.settings import DEFAULT_PLUGINS

    installed = available_plugins()
    names = []
    for name in DEFAULT_PLUGINS:
        try:
            if name in installed:
                installed[name].load()
                names.append(name)
        except Exception:  # reported properly when the plugin is enabled explicitly
            continue
    return names


def spec_names() -> list[str]:
    """Names of every hook in the contract."""
    return sorted(n for n, f in vars(hookspecs).items()
                  if inspect.isfunction(f) and hasattr(f, f"{PROJECT_NAME}_spec"))


class PluginHost(HookCalls):
    """The app's plugin manager plus what core derived from it (chain order, info, configs).

    Core calls plugins only through the calling styles of :class:`core.plugin_calls.HookCalls`.
    """

    def __init__(self, settings: Settings, extra: Mapping[str, object] | None = None) -> None:
        self.settings = settings
        self.pm = self._manager = ContractManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._setup_calls()
        self.order: list[str] = []
        self.info: dict[str, PluginInfo] = {}
        self._load(dict(extra or {}))

    # ------------------------------------------------------------------ loading
    def _where(self) -> str:
        return f" in {self.settings.source}" if self.settings.source else ""

    def _load(self, extra: dict[str, object]) -> None:
        enabled = list(self.settings.get("plugins", "enabled"))
        enabled += [name for name in extra if name not in enabled]
        installed = available_plugins()
        loaded: list[tuple[str, object, str, str]] = []
        for name in enabled:
            if name in extra:
                plugin, version, dist = extra[name], "in-code", "(registered in code)"
            elif name in installed:
                ep = installed[name]
                try:
                    plugin = ep.load()
                except Exception as exc:  # any import error must name the plugin
                    raise StartupError(
                        f"plugin {name!r} failed to import ({exc.__class__.__name__}: {exc}); reinstall the "
                        f"package that provides it or remove it from [plugins] enabled{self._where()}") from exc
                version, dist = distribution_of(ep)
            else:
                known = ", ".join(sorted(installed)) or "none"
                hint = difflib.get_close_matches(name, list(installed), n=1)
                raise StartupError(
                    f"unknown plugin {name!r} in [plugins] enabled{self._where()}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    + f"; installed plugins: {known}. Install the package that provides it or remove the name.")
            self._check_compatible(name, plugin)
            loaded.append((name, plugin, version, dist))
        for name in self.settings.plugin_tables:
            if name not in enabled:
                raise StartupError(f"[plugins.{name}]{self._where()} configures a plugin that is not enabled; "
                                   f"add {name!r} to [plugins] enabled or remove the table")
        # pluggy calls the most recently registered implementation first: register in reverse so the
        # first enabled plugin is first in every chain.
        for name, plugin, _version, _dist in reversed(loaded):
            try:
                self._manager.registering = name
                self.pm.register(adapt_deprecated_args(name, plugin), name=name)
            except pluggy.PluginValidationError as exc:
                raise StartupError(f"plugin {name!r}: {exc}. Fix the hook implementation to match "
                                   "docs/hooks.md") from exc
            except ValueError as exc:
                raise StartupError(f"plugin {name!r} could not be registered: {exc}") from exc
        self._check_unknown_hooks()
        problems = self.wrapper_problems()
        if problems:
            raise StartupError(problems[0])
        for name, _plugin, version, dist in loaded:
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(self.pm.get_plugin(name)) or []))
            declared = getattr(_plugin, "PLUGDESK_HOOKS_VERSION", f"=={HOOKS_VERSION}")
            self.info[name] = PluginInfo(name, version, dist, hooks, str(declared))
        self.order = [name for name, *_ in loaded]

    def _check_compatible(self, name: str, plugin: object) -> None:
        declared = getattr(plugin, "PLUGDESK_HOOKS_VERSION", None)
        if declared is None:
            return
        try:
            spec = SpecifierSet(str(declared))
        except InvalidSpecifier:
            raise StartupError(f"plugin {name!r} declares PLUGDESK_HOOKS_VERSION={declared!r}, which is not a "
                               "version specifier such as '>=1.0,<2'") from None
        if Version(HOOKS_VERSION) not in spec:
            raise StartupError(f"plugin {name!r} supports hook contract {declared} but this plugdesk provides "
                               f"{HOOKS_VERSION}; upgrade the plugin or use a plugdesk whose HOOKS_VERSION matches")

    def _check_unknown_hooks(self) -> None:
        known = spec_names()
        for caller in self.pm.hook.__dict__.values():
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                hint = difflib.get_close_matches(caller.name, known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                if caller.name in DEPRECATED_HOOKS:
                    new, removal = DEPRECATED_HOOKS[caller.name]
                    suggestion = f" (renamed to {new!r}; the old name was removed in hook contract {removal})"
                raise StartupError(f"plugin {impl.plugin_name!r} implements unknown hook {caller.name!r}"
                                   + suggestion
                                   + "; see docs/hooks.md for the hook names")

    # ------------------------------------------------------------------ startup calls
    def configure(self, ctx: PluginContext) -> None:
        """Run every plugin's ``parse_config`` on its own table; store the results in ``ctx``."""
        with_parser = set(self.implementers("parse_config"))
        for name in self.implementers("parse_config"):
            try:
                ctx._plugin_configs[name] = self.one(name, "parse_config", raw=self.settings.plugin_table(name),
                                                     ctx=ctx)
            except PluginConfigError as exc:
                raise StartupError(f"plugin {name!r}: [plugins.{name}] {exc.key}: {exc.message}"
                                   f"{self._where()}") from exc
            except Exception as exc:
                raise StartupError(f"plugin {name!r} failed to read its configuration: "
                                   f"{exc.__class__.__name__}: {exc}") from exc
        for name in self.settings.plugin_tables:
            if name not in with_parser:
                raise StartupError(f"plugin {name!r} takes no configuration, but [plugins.{name}] is set"
                                   f"{self._where()}; remove the table")

    def startup_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """:meth:`each` for hooks called while the app starts: a failing plugin stops startup, named."""
        try:
            return self.each(hook, **kwargs)
        except PluginCallError as exc:
            raise StartupError(f"plugin {exc.plugin!r} failed in {hook}: {exc.error.__class__.__name__}: "
                               f"{exc.error}") from exc

    def registry(self, hook: str, what: str, ctx: PluginContext) -> dict[str, Any]:
        """Merge ``{name: provider}`` dicts from a single-choice hook; a name claimed twice stops startup."""
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for plugin, result in self.startup_each(hook, ctx=ctx):
            for key, value in (result or {}).items():
                if key in merged:
                    raise StartupError(f"two plugins claim {what} {key!r}: {owner[key]!r} and {plugin!r}; "
                                       "enable only one of them")
                merged[key], owner[key] = value, plugin
        return merged


def plugin_module_names(module: ModuleType) -> list[str]:
    """Hook names a module implements (for docs and tests)."""
    return sorted(n for n, f in vars(module).items() if callable(f) and hasattr(f, f"{PROJECT_NAME}_impl"))
