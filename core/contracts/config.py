"""``ConfigurationContract``: a plugin refuses a bad ``[plugins.NAME]`` table at startup, naming the key.

Every contract suite includes it. It builds apps whose configuration is wrong on purpose and expects
:class:`core.testing.StartupError` caused by the plugin's :class:`core.types.PluginConfigError` for the very
key that is wrong (a plugin without ``parse_config`` is refused by core for any table at all):

* an unknown key added to the plugin's valid table (``overrides["plugins"][plugin_name]``);
* each entry of ``invalid_config`` (``{key: bad value}``), put into the valid table on its own.

Class attributes a subclass sets (the hook-level suites already have the first three):

* ``plugin_name`` - the name in ``[plugins] enabled``; without it these checks are skipped.
* ``plugin`` - the module to register directly (before it is installed), or ``None``.
* ``overrides`` - ``plugdesk.toml`` tables of a working app, including the plugin's own valid table.
* ``invalid_config`` - e.g. ``{"max_links": "three", "domains": "example.com"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from core.plugins import StartupError
from core.types import PluginConfigError

UNKNOWN_KEY = "no_such_key_7f3a"


def config_error(exc: BaseException | None) -> PluginConfigError | None:
    """The :class:`PluginConfigError` behind a startup failure (through causes and wrapped plugin errors)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, PluginConfigError):
            return exc
        exc = getattr(exc, "error", None) or exc.__cause__ or exc.__context__
    return None


def names_key(error: PluginConfigError, key: str) -> bool:
    """Whether ``error`` is about ``key`` (or something inside it, e.g. ``providers[0].url``)."""
    return error.key == key or error.key.startswith((f"{key}.", f"{key}["))


class ConfigurationContract:
    """Configuration refusal checks, mixed into every contract suite."""

    plugin_name: str = ""
    plugin: Any = None
    overrides: Mapping[str, Any] = {}
    #: ``{key: value}`` pairs the plugin must refuse, each on its own, with ``PluginConfigError(key, ...)``.
    invalid_config: Mapping[str, Any] = {}

    def valid_table(self) -> dict[str, Any]:
        """The plugin's own table in ``overrides`` (empty when it needs none)."""
        return dict(self.overrides.get("plugins", {}).get(self.plugin_name, {}))

    def startup_refusal(self, factory: Callable[..., Any], table: Mapping[str, Any]) -> StartupError:
        """Build an app whose plugin table is ``table``; return the :class:`StartupError` it must raise."""
        if not self.plugin_name:
            pytest.skip(f"{type(self).__name__} sets no plugin_name: configuration refusal is not checked")
        enabled = [n for n in getattr(self, "enabled", ()) if n != self.plugin_name] + [self.plugin_name]
        overrides = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.overrides.items()}
        overrides["plugins"] = {**overrides.get("plugins", {}), "enabled": enabled, self.plugin_name: dict(table)}
        extra = {self.plugin_name: self.plugin} if self.plugin is not None else None
        with pytest.raises(StartupError) as refused:
            factory(enabled, extra=extra, overrides=overrides)
        message = str(refused.value)
        assert self.plugin_name in message, f"the startup error does not name the plugin: {message}"
        return refused.value

    def test_unknown_config_key_is_refused(self, plugdesk_app_factory: Callable[..., Any]) -> None:
        refused = self.startup_refusal(plugdesk_app_factory, {**self.valid_table(), UNKNOWN_KEY: True})
        error = config_error(refused)
        if error is None:  # a plugin without parse_config: core refuses any table for it
            assert "takes no configuration" in str(refused), f"refused for another reason: {refused}"
            return
        assert names_key(error, UNKNOWN_KEY), f"PluginConfigError names {error.key!r}, not {UNKNOWN_KEY!r}"
        assert UNKNOWN_KEY in str(refused)

    def test_invalid_config_values_are_refused_naming_the_key(self, plugdesk_app_factory: Callable[..., Any]) -> None:
        if not self.invalid_config:
            pytest.skip(f"{type(self).__name__}.invalid_config is empty: no wrong value to try")
        for key, value in self.invalid_config.items():
            refused = self.startup_refusal(plugdesk_app_factory, {**self.valid_table(), key: value})
            error = config_error(refused)
            assert error is not None, f"{key} = {value!r}: refused without a PluginConfigError: {refused}"
            assert names_key(error, key), f"{key} = {value!r}: the PluginConfigError names {error.key!r}"
            assert key in str(refused)
