"""The Jinja environment of the app: template globals as one plain dict per template, templates kept in a dict.

Jinja gives every template a ``ChainMap(template globals, environment globals)``. Each render copies it into
the context key by key through ``ChainMap.__getitem__`` (Python code, once per global), and a template that
imports macros (``{% from "_form.html" import field %}``) compares the two key sets through
``ChainMap.__contains__`` on every render: together ~9 % of the Python calls of a KB page or the login page
(issue 22's profiles). Here a template's globals are a plain ``dict`` snapshot (copied and compared in C).

Jinja documents that globals should not change once templates are loaded; this environment keeps working if
they do: any change to the environment's globals empties the template cache, so a template loaded afterwards
takes a fresh snapshot. The cache is a plain dict (``cache_size=-1``): the app's templates are a fixed set, and
Jinja's bounded LRU cache takes a lock and moves the key in a deque on every lookup.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flask.templating import Environment


def escape_text(value: str) -> str:
    """``value`` HTML-escaped exactly as Markup's ``escape`` writes it (``&#34;``, ``&#39;``), as plain text: for
    rows rendered with autoescape off, where ``|e`` spent ~1.1 µs per value building a ``Markup`` (this takes
    ~0.45 µs; a ticket list escapes a subject per row)."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
            .replace("'", "&#39;"))


#: Options the app's Jinja environment is created with (auto-reload stays Flask's: off unless debugging).
JINJA_OPTIONS: dict[str, Any] = {"cache_size": -1}


class _WatchedGlobals(dict[str, Any]):
    """The environment's globals: a dict that empties the template cache whenever it changes."""

    def __init__(self, env: Environment, initial: MutableMapping[str, Any]) -> None:
        super().__init__(initial)
        self._env = env

    def _changed(self) -> None:
        cache = getattr(self._env, "cache", None)
        if cache is not None:
            cache.clear()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self._changed()

    def pop(self, *args: Any) -> Any:  # type: ignore[override]
        found = super().pop(*args)
        self._changed()
        return found

    def popitem(self) -> tuple[str, Any]:
        found = super().popitem()
        self._changed()
        return found

    def setdefault(self, key: str, default: Any = None) -> Any:
        found = super().setdefault(key, default)
        self._changed()
        return found

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __ior__(self, other: Any) -> _WatchedGlobals:  # type: ignore[override,misc]
        super().__ior__(other)
        self._changed()
        return self


class SnapshotGlobalsEnvironment(Environment):
    """Flask's environment with per-template globals snapshotted into a plain dict (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals = _WatchedGlobals(self, self.globals)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """The environment's globals overlaid with the template's own ``d``, as one dict."""
        return {**self.globals, **d} if d else dict(self.globals)
