"""The application factory: ``create_app(settings=None, *, plugins=None) -> Flask``."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from core.app_state import AppState
from core.auth.lockout import Lockout
from core.context import PluginContext
from core.db import Database
from core.limits import FallbackStore, MemoryStore, make_store
from core.outbox.service import OutboxMailer
from core.plugins import PluginHost, StartupError
from core.runtime_settings import RuntimeSettings
from core.security.settings_specs import SECURITY_SETTINGS
from core.settings import Settings, load_settings
from core.types import SettingSpec
from core.users import CredentialStore, UserDirectory
from core.web.fastpaths import PlugdeskFlask, csrf_for_writes_only
from core.web.jinja_env import escape_text

log = logging.getLogger("plugdesk")
PACKAGE_DIR = Path(__file__).parent


def _setting_specs(host: PluginHost, state_captchas: dict[str, Any], default_captcha: str) -> list[SettingSpec]:
    specs = []
    for spec in SECURITY_SETTINGS:
        if spec.key == "security.captcha.provider":
            names = tuple(sorted(set(spec.choices) | set(state_captchas)))
            spec = SettingSpec(**{**spec.__dict__, "choices": names, "default": default_captcha})
        specs.append(spec)
    for plugin, result in host.startup_each("settings_schema"):
        for spec in result or []:
            if not spec.key.startswith(f"plugins.{plugin}."):
                raise StartupError(f"plugin {plugin!r} declares setting {spec.key!r}; plugin settings must start "
                                   f"with 'plugins.{plugin}.'")
            specs.append(spec)
    return specs


def _captcha_check(state_ref: dict[str, AppState]) -> Any:
    def check(values: dict[str, Any]) -> dict[str, str]:
        state = state_ref["state"]
        if values.get("security.captcha.enabled") and values.get("security.captcha.provider") not in state.captchas:
            available = ", ".join(sorted(state.captchas)) or "none (enable a captcha plugin)"
            return {"security.captcha.provider": f"provider {values.get('security.captcha.provider')!r} is not "
                                                 f"available; enabled captcha providers: {available}"}
        if values.get("security.captcha.enabled"):
            from core.captcha import provider_problem

            name = str(values.get("security.captcha.provider"))
            problem = provider_problem(state.captchas.get(name))
            if problem:
                return {"security.captcha.provider": f"provider {name!r} cannot be used: {problem}"}
        return {}
    return check


def build_state(settings: Settings, plugins: Mapping[str, object] | None = None) -> AppState:
    """Build the plugin host, context, runtime settings and providers; raise :class:`StartupError`."""
    db = Database(settings.get("database", "url"))
    host = PluginHost(settings, plugins)
    mailer = OutboxMailer(db, settings)  # queues in the outbox; the background worker sends (core.worker)
    ctx = PluginContext(settings=settings, db=db, users=UserDirectory(db), credentials=CredentialStore(db),
                        mailer=mailer,
                        limits=make_store(settings.get("limits", "storage"), settings.data_dir))
    ctx.secret_key = settings.get("server", "secret_key")
    if not ctx.secret_key:
        log.warning("server.secret_key is not set: using a random key (sessions end at restart and differ "
                    "between nodes). `plugdesk init` writes one.")
        ctx.secret_key = secrets.token_hex(32)
    mailer.secret = ctx.secret_key
    host.configure(ctx)
    captchas = host.registry("captcha_providers", "captcha provider", ctx)
    storages = host.registry("storage_backends", "storage backend", ctx)
    backend = settings.get("storage", "backend")
    if storages and backend not in storages:
        raise StartupError(f"[storage] backend = {backend!r} but the enabled plugins provide "
                           f"{', '.join(sorted(storages))}; change [storage] backend or enable the plugin")
    default_captcha = settings.get("captcha", "provider")
    if captchas and default_captcha not in captchas:
        raise StartupError(f"[captcha] provider = {default_captcha!r} but the enabled plugins provide "
                           f"{', '.join(sorted(captchas))}; change [captcha] provider or enable the plugin")
    state_ref: dict[str, AppState] = {}
    runtime = RuntimeSettings(db, _setting_specs(host, captchas, default_captcha), [_captcha_check(state_ref)])
    ctx.runtime = runtime
    plugin_providers = {plugin: list(result or []) for plugin, result in host.startup_each("auth_providers", ctx=ctx)}
    providers = [p for listed in plugin_providers.values() for p in listed]
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise StartupError(f"two auth providers share a name: {sorted({n for n in names if names.count(n) > 1})}")
    lockout = Lockout(FallbackStore(ctx.limits, MemoryStore()), runtime.get)
    state = AppState(settings=settings, db=db, host=host, ctx=ctx, runtime=runtime, lockout=lockout,
                     auth_providers=providers, plugin_providers=plugin_providers,
                     captchas=captchas, storages=storages)
    state_ref["state"] = state
    runtime.on_change.append(lambda key, old, new, actor: host.notify(
        "setting_changed", key=key, old=old, new=new, actor=actor, ctx=ctx))
    return state


def create_app(settings: Settings | str | os.PathLike[str] | None = None, *,
               plugins: Mapping[str, object] | None = None,
               overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create a plugdesk app.

    :param settings: a :class:`Settings`, a path to ``plugdesk.toml``, or ``None`` (``PLUGDESK_CONFIG``).
    :param plugins: extra plugin objects by name (used by tests and the plugin harness); a name also
        listed in ``[plugins] enabled`` takes that place in the chain, others go last.
    :param overrides: settings shaped like the TOML file, applied on top of the file.
    :raises StartupError: for unusable plugins; :class:`core.settings.ConfigError` for bad settings.
    """
    if not isinstance(settings, Settings):
        settings = load_settings(settings, overrides=overrides)
    logging.getLogger("plugdesk").setLevel(settings.get("logging", "level"))
    state = build_state(settings, plugins)

    app = PlugdeskFlask("plugdesk", template_folder=str(PACKAGE_DIR / "templates"),
                static_folder=str(PACKAGE_DIR / "static"), static_url_path="/static")
    from core.web import inputs

    inputs.install(app)  # request JSON parsed strictly (no lone surrogates, bounded nesting)
    secret = state.ctx.secret_key
    https = settings.get("server", "base_url").startswith("https://")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="plugdesk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        MAX_CONTENT_LENGTH=settings.get("server", "max_request_mb") * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        WTF_CSRF_SSL_STRICT=False,  # Referer checks break behind some proxies; the token is what counts
        PREFERRED_URL_SCHEME="https" if https else "http",
        TEMPLATES_AUTO_RELOAD=False,
    )
    hops = settings.get("server", "trusted_proxies")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore
    app.extensions["plugdesk"] = state
    from core.auth.sessions import CookieSessions

    app.session_interface = CookieSessions()  # the signing serializer built once, not twice per request
    from core.web import fastpaths

    fastpaths.install(app)  # url_for memoised per request shape (issue 22 profiles)
    app.jinja_env.filters["datetime_utc"] = lambda ts: datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
    # A filter is a direct call in a compiled template; ``value.strftime(...)`` in a table row goes through
    # Jinja's ``context.call`` and attribute lookup for every row (issue 22 profiles)
    app.jinja_env.filters["minute_utc"] = lambda value: value.strftime("%Y-%m-%d %H:%M")
    app.jinja_env.filters["escape_text"] = escape_text  # rows rendered with autoescape off (ticket lists)

    from core.api import api_blueprint
    from core.tickets.web import install as install_tickets
    from core.web import account_views, errors, headers, manage, portal, reset_views

    csrf = CSRFProtect(app)
    csrf_for_writes_only(app)
    app.register_blueprint(portal.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(reset_views.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(api_blueprint)
    csrf.exempt(api_blueprint)  # bearer tokens, not cookies: CSRF does not apply
    from core.files.web import files_blueprint  # downloads, storage page, upload/storage errors
    app.register_blueprint(files_blueprint)
    from core.community.web import register as register_kb_and_community  # KB + community blueprints
    register_kb_and_community(app, csrf)
    install_tickets(app, csrf)  # tickets, departments, retention
    from core.worker.web import install as install_worker_pages

    install_worker_pages(app)  # Management › Mail, › Background jobs, the dashboard's failed-mail banner
    from core.inbound.web import install as install_inbound

    install_inbound(app)  # email to ticket: Management › Mail › Inbound, quoted history folded in tickets
    from core.twofactor import install as install_twofactor

    install_twofactor(app, csrf)  # second login step, Profile › Security and › Sessions, /api/v1/me/two-factor
    from core.web import sso_views

    sso_views.install(app, csrf)  # redirect logins (auth_redirect_* hooks): buttons, callbacks, account linking
    from core.web import ui

    ui.install(app)  # Settings › Branding and /theme.css, canned responses, the dashboard's setup checklist
    for plugin, blueprints in state.host.startup_each("register_blueprints", ctx=state.ctx):
        for blueprint in blueprints or []:
            if blueprint.name in app.blueprints:
                raise StartupError(f"plugin {plugin!r} registers blueprint {blueprint.name!r}, which exists")
            app.register_blueprint(blueprint)
    errors.install(app)
    headers.install(app)
    from core.web import ratelimit

    ratelimit.install(app, state)
    from core import ops

    ops.install(app)  # request ids, access log, metrics, /metrics, write guard (outermost WSGI layer)
    return app
