"""Mount tickets into an app: blueprints, the ``tickets.allow_guests`` setting, attachments."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from core.app_state import state
from core.types import SettingSpec

ALLOW_GUESTS = SettingSpec(
    key="tickets.allow_guests", type="bool", default=False, label="Guests may submit tickets",
    help="Visitors who are not logged in can submit a ticket to a public department with just an email address "
         "(the captcha applies when it is switched on). Replies reach them by email.", tab="Tickets")


def install(app: Flask, csrf: CSRFProtect) -> None:
    """Register the ticket blueprints and settings on ``app`` (called by :func:`core.app.create_app`)."""
    from core.tickets import api, attachments, manage, manage_departments, portal

    st = state(app)
    st.runtime.specs.setdefault(ALLOW_GUESTS.key, ALLOW_GUESTS)
    app.register_blueprint(portal.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(manage_departments.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens, not cookies
    attachments.register_owner()  # scheduled retention runs on the background worker (core.worker.jobs)
