"""Build the plugin manager from settings: discovery, validation, compatibility, per-plugin config."""

from __future__ import annotations

import difflib
import importlib.metadata as md
import inspect
import keyword
import logging
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from core import HOOKS_VERSION, PROJECT_NAME, hookspecs
from core.context import PluginContext
from core.settings import Settings
from core.types import PluginConfigError

ENTRY_POINT_GROUP = "plugdesk.plugins"

#: Renamed hooks: old name -> (new name, HOOKS_VERSION from which the old name is refused). While
#: ``HOOKS_VERSION`` is below the removal version, an implementation under the old name is registered as
#: the new hook with a :class:`DeprecationWarning` naming the replacement. Empty in contract 1.0.
DEPRECATED_HOOKS: dict[str, tuple[str, str]] = {}

#: Renamed hook arguments: (hook, old argument) -> (new argument, removal version). An implementation that
#: still names the old argument is called with the new argument's value under the old name, with a warning.
DEPRECATED_ARGS: dict[tuple[str, str], tuple[str, str]] = {}

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
    """Installed plugins by name (entry-point group ``plugdesk.plugins``); nothing is imported."""
    return {ep.name: ep for ep in md.entry_points(group=ENTRY_POINT_GROUP)}


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


def _still_supported(removal: str) -> bool:
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


class _Manager(pluggy.PluginManager):
    """Maps deprecated hook names to their replacement (pluggy's ``specname``) with a warning."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None or opts.get("specname") or name not in DEPRECATED_HOOKS:
            return opts
        new, removal = DEPRECATED_HOOKS[name]
        if not _still_supported(removal):
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
            if new and _still_supported(removal):
                renames[arg] = new
                _warn(name, f"argument {arg!r} of hook {hook!r} is deprecated and will stop working in hook "
                            f"contract {removal}; rename it to {new!r}")
        if renames:
            replaced[attr] = _adapter(func, renames)
    if not replaced:
        return plugin
    copy = types.SimpleNamespace(**{a: getattr(plugin, a) for a in dir(plugin) if not a.startswith("__")})
    for attr, func in replaced.items():
        setattr(copy, attr, func)
    return copy


def spec_names() -> list[str]:
    """Names of every hook in the contract."""
    return sorted(n for n, f in vars(hookspecs).items()
                  if inspect.isfunction(f) and hasattr(f, f"{PROJECT_NAME}_spec"))


class PluginHost:
    """The app's plugin manager plus what core derived from it (chain order, info, configs)."""

    def __init__(self, settings: Settings, extra: Mapping[str, object] | None = None) -> None:
        self.settings = settings
        self.pm = _Manager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.order: list[str] = []
        self.monitors: list[Callable[[str, dict[str, Any]], None]] = []
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
                plugin, version, dist = extra[name], "local", "(registered in code)"
            elif name in installed:
                ep = installed[name]
                try:
                    plugin = ep.load()
                except Exception as exc:  # any import error must name the plugin
                    raise StartupError(
                        f"plugin {name!r} failed to import ({exc.__class__.__name__}: {exc}); reinstall the "
                        f"package that provides it or remove it from [plugins] enabled{self._where()}") from exc
                version = ep.dist.version if ep.dist else "unknown"
                dist = ep.dist.name if ep.dist else "unknown"
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
                self.pm.registering = name
                self.pm.register(adapt_deprecated_args(name, plugin), name=name)
            except pluggy.PluginValidationError as exc:
                raise StartupError(f"plugin {name!r}: {exc}. Fix the hook implementation to match "
                                   "docs/hooks.md") from exc
            except ValueError as exc:
                raise StartupError(f"plugin {name!r} could not be registered: {exc}") from exc
        self._check_unknown_hooks()
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

    # ------------------------------------------------------------------ calling
    def trace(self, hook: str, kwargs: dict[str, Any]) -> None:
        """Tell monitors (e.g. the test harness's hook recorder) that core is calling ``hook``."""
        for monitor in self.monitors:
            monitor(hook, kwargs)

    def impls(self, hook: str) -> list[pluggy.HookImpl]:
        """Implementations of ``hook`` in call order (first enabled plugin first)."""
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    @staticmethod
    def call_impl(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one implementation with just the arguments it declares."""
        return impl.function(*[kwargs[arg] for arg in impl.argnames])

    def each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Yield ``(plugin name, result)`` for every implementation, in chain order."""
        self.trace(hook, kwargs)
        for impl in self.impls(hook):
            yield impl.plugin_name, self.call_impl(impl, **kwargs)

    def configure(self, ctx: PluginContext) -> None:
        """Run every plugin's ``parse_config`` on its own table; store the results in ``ctx``."""
        with_parser = set()
        for impl in self.impls("parse_config"):
            name = impl.plugin_name
            with_parser.add(name)
            try:
                ctx._plugin_configs[name] = self.call_impl(impl, raw=self.settings.plugin_table(name), ctx=ctx)
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

    def registry(self, hook: str, what: str, ctx: PluginContext) -> dict[str, Any]:
        """Merge ``{name: provider}`` dicts from a single-choice hook; a name claimed twice stops startup."""
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for plugin, result in self.each(hook, ctx=ctx):
            for key, value in (result or {}).items():
                if key in merged:
                    raise StartupError(f"two plugins claim {what} {key!r}: {owner[key]!r} and {plugin!r}; "
                                       "enable only one of them")
                merged[key], owner[key] = value, plugin
        return merged

    def notify(self, hook: str, log: Callable[[str, BaseException], None], **kwargs: Any) -> None:
        """Call a lifecycle hook on every plugin; a failing plugin is logged, never breaks the caller."""
        self.trace(hook, kwargs)
        for impl in self.impls(hook):
            try:
                self.call_impl(impl, **kwargs)
            except Exception as exc:  # events must not undo what already happened
                log(impl.plugin_name, exc)


def plugin_module_names(module: ModuleType) -> list[str]:
    """Hook names a module implements (for docs and tests)."""
    return sorted(n for n, f in vars(module).items() if callable(f) and hasattr(f, f"{PROJECT_NAME}_impl"))
