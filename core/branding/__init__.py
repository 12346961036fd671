"""Branding: the help desk's name, logo and brand colour (Settings › Branding), applied by ``/theme.css``.

Three runtime settings (database, audited, on every node within a second; also ``plugdesk settings set``):

* ``branding.name`` - shown in the header and page titles.
* ``branding.color`` - a hex colour; links and buttons use it with contrast guaranteed (:mod:`.theme`).
* ``branding.logo_url`` - empty, a logo uploaded on the Branding page (stored through ``core.files`` as
  ``/attachments/ID``), a local path, or an ``https://`` URL that passes the HTML sanitizer; an external
  logo's origin is added to the page's ``img-src`` (nothing else is loosened).
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError

from core.branding.theme import DEFAULT_COLOUR, parse_hex, to_hex
from core.types import SettingSpec

OWNER_TYPE = "branding"
DEFAULT_NAME = "Help desk"
_SRC = re.compile(r'src="([^"]*)"')


def validate_colour(value: str) -> str:
    """A hex colour, normalised to ``#rrggbb``; raise ``ValueError`` with the admin's message."""
    return to_hex(parse_hex(value))


def validate_name(value: str) -> str:
    """One line of at most 80 characters."""
    name = " ".join((value or "").split())
    if not name:
        raise ValueError("Enter the name your customers know this help desk by.")
    if len(name) > 80:
        raise ValueError("Use at most 80 characters.")
    return name


def validate_logo(value: str) -> str:
    """``""``, a local path (``/attachments/12``) or an ``https://`` address that the sanitizer keeps as is."""
    url = (value or "").strip()
    if not url:
        return ""
    if len(url) > 2000 or any(c.isspace() or c in "\"'<>\\" for c in url):
        raise ValueError("Enter one address without spaces or quotes.")
    parts = urlsplit(url)
    local = url.startswith("/") and not url.startswith("//")
    if not local and (parts.scheme != "https" or not parts.hostname):
        raise ValueError("Use an https:// address or upload the logo (http would be blocked as mixed content).")
    from core.kb.sanitize import sanitize_html

    kept = _SRC.findall(sanitize_html(f'<img src="{html.escape(url)}" alt="">'))
    if not kept or html.unescape(kept[0]) != url:
        raise ValueError("This address is not allowed as an image source.")
    return url


SETTINGS = [
    SettingSpec("branding.name", "str", DEFAULT_NAME, "Help desk name",
                "Shown in the header, page titles and the portal home.", tab="Branding", validate=validate_name),
    SettingSpec("branding.color", "str", DEFAULT_COLOUR, "Brand colour",
                "A hex colour such as #1f6feb. Links and buttons use it, darkened or lightened just enough to stay "
                "readable (WCAG AA) in the light and the dark theme.", tab="Branding", validate=validate_colour),
    SettingSpec("branding.logo_url", "str", "", "Logo",
                "Upload an image below, or give an https:// address. Empty: the name alone.", tab="Branding",
                validate=validate_logo),
]


@dataclass(frozen=True)
class Brand:
    """What templates need: ``name``, ``logo_url``, ``color`` and ``version`` (changes with any of them)."""

    name: str
    logo_url: str
    color: str

    @functools.cached_property
    def version(self) -> str:
        """A short hash for ``/theme.css?v=...`` (cache-busting)."""
        return hashlib.sha256(f"{self.color}|{self.name}|{self.logo_url}".encode()).hexdigest()[:12]

    @functools.cached_property
    def logo_origin(self) -> str | None:
        """``https://host[:port]`` of an external logo (for the CSP), else ``None``."""
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" and parts.netloc else None


def current_brand(st: Any) -> Brand:
    """The brand from the runtime settings (defaults when the database cannot be asked)."""
    try:
        return cast(Brand, st.runtime.derived("branding.brand", lambda values: Brand(
            values["branding.name"], values["branding.logo_url"], values["branding.color"])))
    except SQLAlchemyError:
        return Brand(DEFAULT_NAME, "", DEFAULT_COLOUR)


def install(app: Flask) -> None:
    """Declare the settings, the ``branding`` owner type, the routes, ``brand`` in templates, the logo's CSP."""
    from core.app_state import state
    from core.branding import web
    from core.files.owners import register_owner_type

    st = state(app)
    for spec in SETTINGS:
        st.runtime.specs.setdefault(spec.key, spec)
    register_owner_type(OWNER_TYPE, lambda _user, _owner_id: True, "Logo (public)")
    app.register_blueprint(web.bp)

    @app.context_processor
    def inject_brand() -> dict[str, Any]:
        return {"brand": current_brand(state())}

    @app.after_request
    def logo_csp(response: Response) -> Response:
        if response.mimetype != "text/html" or request.path.startswith("/api/"):
            return response
        origin = current_brand(state()).logo_origin
        csp = response.headers.get("Content-Security-Policy")
        if origin and csp:
            from core.captcha import extend_csp

            response.headers["Content-Security-Policy"] = extend_csp(csp, {"img-src": [origin]})
        return response
