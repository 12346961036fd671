"""Contract suites: subclass one in a plugin's tests to prove it keeps the hook contract.

Each suite is a plain pytest class (no ``Test`` prefix, so it is not collected itself); the subclass sets
the plugin's name and provides the fixtures the suite documents. The in-tree plugins run these same suites.
Import them from :mod:`core.testing`:

* :class:`core.contracts.auth.AuthProviderContract`
* :class:`core.contracts.captcha.CaptchaProviderContract`
* :class:`core.contracts.storage.StorageBackendContract`
* :class:`core.contracts.moderation.ModerationContract`
* :class:`core.contracts.retention.RetentionContract`
* :class:`core.contracts.redirect.RedirectLoginContract`
* :class:`core.contracts.mail.MailSourceContract`

The suites for hook-level contracts (auth, moderation, retention) share :class:`PluginUnderTest`: the plugin
is enabled in a fresh app built by the harness, and its own implementations are called directly with the
app's ``ctx`` as well as through core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from core.contracts.config import ConfigurationContract
from core.settings import HARNESS_PLUGINS


class PluginUnderTest(ConfigurationContract):
    """Common part of the hook-level suites: which plugin, and the app it runs in.

    Class attributes a subclass sets:

    * ``plugin_name`` - the name in ``[plugins] enabled`` (the entry-point name).
    * ``plugin`` - the module or object to register directly (for a package not installed yet), or ``None``
      to load the installed entry point.
    * ``enabled`` - other plugins to enable *before* it (default ``["auth_local"]``).
    * ``overrides`` - extra ``plugdesk.toml`` tables, e.g. ``{"plugins": {"NAME": {...}}}``.

    Override the ``app`` fixture for anything more (e.g. a directory server).
    """

    plugin_name: str = ""
    plugin: Any = None
    enabled: tuple[str, ...] = HARNESS_PLUGINS
    overrides: Mapping[str, Any] = {}

    @pytest.fixture
    def app(self, plugdesk_app_factory: Callable[..., Any]) -> Any:
        """A fresh app with ``enabled`` + the plugin under test."""
        assert self.plugin_name, f"{type(self).__name__} must set plugin_name"
        names = [n for n in self.enabled if n != self.plugin_name] + [self.plugin_name]
        extra = {self.plugin_name: self.plugin} if self.plugin is not None else None
        overrides = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.overrides.items()}
        plugins_table = dict(overrides.get("plugins", {}))
        plugins_table["enabled"] = names
        overrides["plugins"] = plugins_table
        return plugdesk_app_factory(names, extra=extra, overrides=overrides)

    @staticmethod
    def state(app: Any) -> Any:
        """The app's :class:`core.app_state.AppState`."""
        return app.extensions["plugdesk"]

    def implements(self, app: Any, hook: str) -> bool:
        """Tell whether the plugin has its own implementation of ``hook``."""
        return bool(self.state(app).host.implements(self.plugin_name, hook))

    def call(self, app: Any, hook: str, **kwargs: Any) -> Any:
        """Call the plugin's own implementation of ``hook`` (with ``ctx``) the way core calls that hook.

        Per-plugin hooks go through a one-plugin call; ``first``/``collect`` hooks through a subset of the
        plugin manager holding only this plugin, so wrappers and argument checks behave as in production.
        """
        host = self.state(app).host
        assert host.implements(self.plugin_name, hook), f"plugin {self.plugin_name!r} does not implement {hook}"
        with app.app_context():
            return host.call_plugin(self.plugin_name, hook, ctx=self.state(app).ctx, **kwargs)
