"""The object every hook receives as ``ctx``: what a plugin may use of the running app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.db import Database
from core.limits import CounterStore
from core.settings import Settings
from core.users import CredentialStore, UserDirectory

if TYPE_CHECKING:  # pragma: no cover
    from core.mail import Mailer
    from core.runtime_settings import RuntimeSettings


@dataclass
class PluginContext:
    """Per-app services for plugins. Never stored at module level: one app, one context."""

    settings: Settings
    db: Database
    users: UserDirectory
    credentials: CredentialStore
    mailer: Mailer
    limits: CounterStore
    runtime: RuntimeSettings | None = None
    secret_key: str = ""  # the app's signing key (sign tokens with it; never log it)
    _plugin_configs: dict[str, Any] = field(default_factory=dict)

    def plugin_config(self, name: str) -> Any:
        """The object the plugin's ``parse_config`` returned (its raw table if it has none)."""
        if name in self._plugin_configs:
            return self._plugin_configs[name]
        return self.settings.plugin_table(name)

    def setting(self, key: str) -> Any:
        """A runtime setting's current value (``security.*`` or a plugin's ``plugins.NAME.*``)."""
        if self.runtime is None:
            raise RuntimeError("runtime settings are not ready yet")
        return self.runtime.get(key)

    def log(self, plugin: str) -> logging.Logger:
        """The logger for a plugin: ``plugdesk.plugins.NAME``."""
        return logging.getLogger(f"plugdesk.plugins.{plugin}")
