"""Two-factor login in core: authenticator apps (TOTP), passkeys (WebAuthn) and recovery codes, for every auth
provider; the enrolment policy of Settings › Security; the Sessions page.

Modules: :mod:`~core.twofactor.models` (tables), :mod:`~core.twofactor.totp`, :mod:`~core.twofactor.passkeys`,
:mod:`~core.twofactor.recovery`, :mod:`~core.twofactor.service` (policy, the second login step, the admin
reset), :mod:`~core.twofactor.web` and :mod:`~core.twofactor.settings_views` (pages),
:mod:`~core.twofactor.api` (``/api/v1/me/two-factor``, ``/api/v1/me/sessions``). See docs/security.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def install(app: Flask, csrf: Any) -> None:
    """Register the pages, the API routes and the enrolment gate (called by :func:`core.app.create_app`)."""
    from core.twofactor import api, settings_views, web
    from core.web import session_views

    app.register_blueprint(web.bp)
    app.register_blueprint(settings_views.bp)
    app.register_blueprint(session_views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens, not cookies
    app.before_request_funcs.setdefault(None, []).append(web.enrolment_gate)
    app.jinja_env.globals["twofactor_enrolled_ids"] = web.enrolled_ids
