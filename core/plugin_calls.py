"""Every way core calls plugins, built on pluggy's ``pm.hook`` so its semantics hold.

Each hook in :mod:`core.hookspecs` declares one calling style (``@calling(...)``); core calls it only
through the matching method of :class:`HookCalls`, and a meta-test checks that no other module walks
the implementations itself.

* ``first``   - one ``pm.hook`` call of a *firstresult* hook: the first non-``None`` result.
* ``collect`` - one ``pm.hook`` call: every non-``None`` result, in call order.
* ``each``    - one call per plugin (``(plugin name, result)`` pairs); an exception names the plugin.
* ``chain``   - one call per plugin until ``decide`` says stop (the login chain).
* ``vote``    - one call per plugin, each isolated: an exception becomes ``on_error``'s vote.
* ``notify``  - one call per plugin, each isolated: an exception is logged with the plugin's name.
* ``one``     - the named plugin's implementation only (``plugin_diagnose``, ``parse_config``).

Per-plugin calls go through ``pm.subset_hook_caller``, so ``tryfirst``/``trylast`` order, tracing,
``add_hookcall_monitoring`` and wrappers still apply: a wrapper-only plugin (``wrapper=True`` or
``hookwrapper=True`` with no plain implementation of that hook) wraps *each* plugin's call of a per-plugin
hook, and the whole call of a ``first``/``collect`` hook.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
from collections.abc import Callable
from typing import Any

import pluggy

from core.hookspecs import CALL_STYLES

log = logging.getLogger("plugdesk.plugins")

#: The logical host call a pluggy call belongs to (one host call may make one pluggy call per plugin).
_current_call: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar("plugdesk_hook_call",
                                                                                        default=None)
_call_ids = itertools.count(1)

PER_PLUGIN_STYLES = frozenset({"each", "chain", "vote", "notify", "one"})


class PluginCallError(Exception):
    """A plugin's hook implementation raised; ``plugin`` and ``hook`` name it, ``__cause__`` is the error."""

    def __init__(self, plugin: str, hook: str, exc: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} failed in hook {hook!r}: {exc.__class__.__name__}: {exc}")
        self.plugin = plugin
        self.hook = hook
        self.error = exc


def current_call() -> tuple[int, str] | None:
    """``(call id, hook name)`` of the host call in progress in this context (for hook recorders)."""
    return _current_call.get()


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


class HookCalls:
    """Calling styles over ``self.pm`` (a :class:`pluggy.PluginManager`); mixed into the plugin host."""

    pm: pluggy.PluginManager

    def _setup_calls(self) -> None:
        self._subsets: dict[tuple[str, str], pluggy.HookCaller] = {}

    # ------------------------------------------------------------------ introspection
    def implementers(self, hook: str) -> list[str]:
        """Names of the plugins with a plain (non-wrapper) implementation of ``hook``, in call order."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return [impl.plugin_name for impl in reversed(impls) if not _is_wrapper(impl)]

    def implements(self, plugin: str, hook: str) -> bool:
        """Tell whether ``plugin`` has a plain implementation of ``hook``."""
        return plugin in self.implementers(hook)

    def wrapper_problems(self) -> list[str]:
        """Wrapper implementations core cannot honour (checked at load time): a plugin with both a wrapper
        and a plain implementation of one per-plugin hook."""
        problems = []
        for hook, style in CALL_STYLES.items():
            if style not in PER_PLUGIN_STYLES:
                continue
            impls = getattr(self.pm.hook, hook).get_hookimpls()
            wrapped = {i.plugin_name for i in impls if _is_wrapper(i)}
            for name in sorted(wrapped & {i.plugin_name for i in impls if not _is_wrapper(i)}):
                problems.append(
                    f"plugin {name!r} has both a wrapper and a plain implementation of {hook!r}; {hook!r} is "
                    f"called once per plugin ({style}), so a wrapper there wraps every plugin's call and cannot "
                    "also be one of them: keep one of the two")
        return problems

    # ------------------------------------------------------------------ helpers
    def _check_style(self, hook: str, *styles: str) -> None:
        style = CALL_STYLES.get(hook)
        if style not in styles:
            raise TypeError(f"hook {hook!r} is called as {style!r}, not {'/'.join(styles)} (core/hookspecs.py)")

    def _subset(self, hook: str, plugin: str) -> pluggy.HookCaller:
        """A caller of ``hook`` with ``plugin``'s plain implementation and every wrapper-only plugin."""
        key = (hook, plugin)
        caller = self._subsets.get(key)
        if caller is None:
            impls = getattr(self.pm.hook, hook).get_hookimpls()
            wrapper_only = {i.plugin_name for i in impls if _is_wrapper(i)}
            keep = {plugin} | wrapper_only
            remove = [i.plugin for i in impls if i.plugin_name not in keep]
            caller = self.pm.subset_hook_caller(hook, remove)
            self._subsets[key] = caller
        return caller

    def _call_plugin(self, hook: str, plugin: str, kwargs: dict[str, Any]) -> Any:
        result = self._subset(hook, plugin)(**kwargs)
        caller = getattr(self.pm.hook, hook)
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            return result
        return result[0] if result else None

    def _plugins_or_empty_call(self, hook: str, kwargs: dict[str, Any]) -> list[str]:
        """The implementers of ``hook``; with none, make one (empty) pluggy call so monitors and
        wrapper-only plugins still see that core called the hook."""
        plugins = self.implementers(hook)
        if not plugins:
            getattr(self.pm.hook, hook)(**kwargs)
        return plugins

    @staticmethod
    def _begin(hook: str) -> contextvars.Token[tuple[int, str] | None]:
        return _current_call.set((next(_call_ids), hook))

    # ------------------------------------------------------------------ the styles
    def first(self, hook: str, **kwargs: Any) -> Any:
        """The first non-``None`` result of a *firstresult* hook (``None`` when every plugin defers)."""
        self._check_style(hook, "first")
        token = self._begin(hook)
        try:
            return getattr(self.pm.hook, hook)(**kwargs)
        finally:
            _current_call.reset(token)

    def collect(self, hook: str, **kwargs: Any) -> list[Any]:
        """Every non-``None`` result, in call order (one pluggy call; an exception propagates)."""
        self._check_style(hook, "collect")
        token = self._begin(hook)
        try:
            return list(getattr(self.pm.hook, hook)(**kwargs))
        finally:
            _current_call.reset(token)

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin, result)`` for every implementing plugin; an exception is raised as
        :class:`PluginCallError` naming the plugin."""
        self._check_style(hook, "each")
        token = self._begin(hook)
        try:
            results = []
            for plugin in self._plugins_or_empty_call(hook, kwargs):
                try:
                    results.append((plugin, self._call_plugin(hook, plugin, kwargs)))
                except Exception as exc:
                    raise PluginCallError(plugin, hook, exc) from exc
            return results
        finally:
            _current_call.reset(token)

    def chain(self, hook: str, decide: Callable[[str, Any], bool], **kwargs: Any) -> tuple[str, Any] | None:
        """Call plugins in order until ``decide(plugin, result)`` returns ``True``; return that pair.

        An exception stops the chain and is raised as :class:`PluginCallError` (callers fail closed).
        """
        self._check_style(hook, "chain")
        token = self._begin(hook)
        try:
            for plugin in self._plugins_or_empty_call(hook, kwargs):
                try:
                    result = self._call_plugin(hook, plugin, kwargs)
                except Exception as exc:
                    raise PluginCallError(plugin, hook, exc) from exc
                if decide(plugin, result):
                    return plugin, result
            return None
        finally:
            _current_call.reset(token)

    def vote(self, hook: str, on_error: Callable[[str, Exception], Any], **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin, vote)`` for every implementing plugin; a plugin that raises votes ``on_error(plugin, exc)``."""
        self._check_style(hook, "vote")
        token = self._begin(hook)
        try:
            votes = []
            for plugin in self._plugins_or_empty_call(hook, kwargs):
                try:
                    votes.append((plugin, self._call_plugin(hook, plugin, kwargs)))
                except Exception as exc:
                    log.exception("plugin %s failed in %s", plugin, hook)
                    votes.append((plugin, on_error(plugin, exc)))
            return votes
        finally:
            _current_call.reset(token)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Tell every implementing plugin; one plugin's exception is logged with its name, the rest still run."""
        self._check_style(hook, "notify")
        token = self._begin(hook)
        try:
            for plugin in self._plugins_or_empty_call(hook, kwargs):
                try:
                    self._call_plugin(hook, plugin, kwargs)
                except Exception as exc:  # events must not undo what already happened
                    log.error("plugin %s failed in %s: %s: %s", plugin, hook, exc.__class__.__name__, exc,
                              exc_info=exc)
        finally:
            _current_call.reset(token)

    def call_plugin(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call ``plugin``'s own implementation of any hook, whatever its style (contract suites use this).

        The call goes through pluggy like every other (wrapper-only plugins still wrap it).
        """
        if not self.implements(plugin, hook):
            raise LookupError(f"plugin {plugin!r} does not implement {hook!r}")
        token = self._begin(hook)
        try:
            return self._call_plugin(hook, plugin, kwargs)
        finally:
            _current_call.reset(token)

    def one(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call ``plugin``'s own implementation of ``hook``; :class:`LookupError` when it has none.

        Exceptions propagate unchanged (the caller reports them with the plugin's name).
        """
        self._check_style(hook, "one")
        return self.call_plugin(plugin, hook, **kwargs)
