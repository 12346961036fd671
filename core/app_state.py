"""The per-app state kept in ``app.extensions["plugdesk"]`` (no module-level singletons)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from flask.globals import _cv_app

from core.auth.lockout import Lockout
from core.context import PluginContext
from core.db import Database
from core.plugins import PluginHost
from core.runtime_settings import RuntimeSettings
from core.settings import Settings
from core.types import AuthProviderInfo, BlobStore, CaptchaProvider

log = logging.getLogger("plugdesk.plugins")


@dataclass
class AppState:
    """Everything core built for one app: settings, database, plugins, runtime settings, providers."""

    settings: Settings
    db: Database
    host: PluginHost
    ctx: PluginContext
    runtime: RuntimeSettings
    lockout: Lockout
    auth_providers: list[AuthProviderInfo] = field(default_factory=list)
    plugin_providers: dict[str, list[AuthProviderInfo]] = field(default_factory=dict)  # plugin -> providers
    captchas: dict[str, CaptchaProvider] = field(default_factory=dict)
    storages: dict[str, BlobStore] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ctx.tickets.bind(self)  # ticket operations reach files and fire events for this app

    def provider(self, name: str) -> AuthProviderInfo | None:
        """The auth provider info for a provider name (``user.provider``)."""
        return next((p for p in self.auth_providers if p.name == name), None)

    def provider_label(self, name: str) -> str:
        """How messages name the provider that owns an account (its ``label``, e.g. "Acme Control Panel")."""
        info = self.provider(name)
        return info.label.strip() if info and info.label.strip() else "the service that manages your account"

    def external_labels(self) -> str:
        """The labels of the enabled external providers, for admin messages ("Corp LDAP, Acme Control Panel")."""
        return ", ".join(p.label for p in self.auth_providers if p.external) or "none"

    def registration_provider(self) -> AuthProviderInfo | None:
        """The first provider in the chain that can create accounts, if any."""
        return next((p for p in self.auth_providers if p.registration and not p.external), None)

    @property
    def storage(self) -> BlobStore | None:
        """The selected blob store (``[storage] backend``), or ``None`` when no storage plugin is enabled."""
        return self.storages.get(self.settings.get("storage", "backend"))

    @property
    def captcha(self) -> CaptchaProvider | None:
        """The captcha provider chosen by ``security.captcha.provider``."""
        return self.captchas.get(self.runtime.get("security.captcha.provider"))


def state(app: Flask | None = None) -> AppState:
    """The :class:`AppState` of ``app`` (default: the current app)."""
    if app is None:
        ctx = _cv_app.get(None)  # what ``current_app`` resolves, without the proxy (this runs ~10 times a request)
        return (ctx.app if ctx is not None else current_app).extensions["plugdesk"]
    return app.extensions["plugdesk"]
