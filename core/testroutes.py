"""Faster test apps: Werkzeug's URL builders are compiled once per distinct rule per run, not once per app.

Building a plugdesk app registers ~140 URL rules, and Werkzeug compiles two small Python functions for each
(``Rule._compile_builder``: an AST, then ``compile``). That is most of the cost of an app, and a test run
builds an app for almost every test. A builder depends only on the rule's parsed parts, its default
arguments' names and whether unknown arguments become a query string; it receives the rule itself as its
first argument, so one compiled function serves every app. :func:`memoize_url_builders` (called by
plugdesk's pytest plugin, never by a server) caches them by exactly those inputs. Rules whose defaults are
folded into the URL (a default for a variable part) are compiled as usual, and so is everything if Werkzeug
no longer has the method this relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MARK = "_plugdesk_memoized"


def memoize_url_builders() -> bool:
    """Install the cache on ``werkzeug.routing.Rule``; ``False`` when it is installed already or not possible."""
    from werkzeug.routing.rules import Rule

    original: Callable[..., Any] | None = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, _MARK, False):
        return False
    cache: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: Any, append_unknown: bool = True) -> Any:
        try:
            defaults = self.defaults or {}
            trace = tuple(self._trace)
            if any(dynamic and data in defaults for dynamic, data in trace):
                return original(self, append_unknown)  # the default's URL form is compiled in: not shared
            key = (self.rule, trace, tuple(defaults), bool(append_unknown))
            hash(key)
        except Exception:  # an unexpected Werkzeug: no cache
            return original(self, append_unknown)
        if key not in cache:
            cache[key] = original(self, append_unknown)
        return cache[key]

    setattr(compile_builder, _MARK, True)
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
    return True
