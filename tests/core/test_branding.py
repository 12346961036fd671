"""Settings › Branding: validated name, colour and logo; /theme.css keeps WCAG AA contrast for any colour."""

from __future__ import annotations

import io
import re

import pytest

from core.branding import validate_colour, validate_logo
from core.branding.theme import LIGHT, contrast, palette, parse_hex
from core.runtime_settings import SettingsValidationError

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def app(plugdesk_app_factory):
    return plugdesk_app_factory(["auth_local", "storage_fs"])


@pytest.mark.parametrize("colour", ["#1f6feb", "#ffff00", "#ffffff", "#000000", "#777", "#e91e63", "#00ff7f"])
def test_every_brand_colour_gives_readable_links_and_buttons(colour):
    colours = palette(colour)
    light, dark = parse_hex(colours["light"]["--accent"]), parse_hex(colours["dark"]["--accent"])
    for bg in ("#f7f7f5", "#ffffff"):
        assert contrast(light, parse_hex(bg)) >= 4.5
        assert contrast(light, parse_hex(colours["light"]["--accent-fg"])) >= 4.5
    for bg in ("#0f1115", "#161b22"):
        assert contrast(dark, parse_hex(bg)) >= 4.5
        assert contrast(dark, parse_hex(colours["dark"]["--accent-fg"])) >= 4.5


def test_the_old_accent_failed_and_the_default_passes():
    assert contrast(parse_hex("#1f6feb"), parse_hex(LIGHT["bg"])) < 4.5  # what axe reported
    assert contrast(parse_hex(palette("#1f6feb")["light"]["--accent"]), parse_hex(LIGHT["bg"])) >= 4.5


@pytest.mark.parametrize("value", ["blue", "#12345", "#ggg", "1f6feb", "#1f6feb; background:red", ""])
def test_colour_must_be_hex(value):
    with pytest.raises(ValueError, match="hex"):
        validate_colour(value)


def test_logo_addresses():
    assert validate_logo("") == ""
    assert validate_logo("/attachments/4") == "/attachments/4"
    assert validate_logo("https://cdn.example.com/logo.png?v=2") == "https://cdn.example.com/logo.png?v=2"
    for bad in ("javascript:alert(1)", "data:image/png;base64,AAAA", "http://example.com/l.png",
                "//evil.example/x.png", 'https://x.example/"onerror="x', "https://x.example/a b.png"):
        with pytest.raises(ValueError):
            validate_logo(bad)


def test_settings_are_validated_audited_and_applied(app, login_as):
    st = app.extensions["plugdesk"]
    with pytest.raises(SettingsValidationError) as refused:
        st.runtime.patch({"branding.color": "red"}, actor="t")
    assert "hex" in refused.value.errors["branding.color"]
    st.runtime.patch({"branding.color": "#E91E63", "branding.name": "Acme  Support"}, actor="t")
    assert st.runtime.get("branding.color") == "#e91e63" and st.runtime.get("branding.name") == "Acme Support"
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "<title>Support · Acme Support</title>" in home and ">Acme Support</span>" in home
    version = re.search(r'href="/theme.css\?v=(\w+)"', home).group(1)
    css = client.get(f"/theme.css?v={version}")
    assert css.mimetype == "text/css" and "immutable" in css.headers["Cache-Control"]
    assert "--brand:#e91e63" in css.get_data(as_text=True) and "prefers-color-scheme: dark" in css.get_data(True)
    assert client.get("/theme.css").headers["Cache-Control"] == "no-cache"


def test_branding_page_uploads_a_logo_and_refuses_bad_input(app, login_as):
    admin, _ = login_as(app, "admin")
    page = admin.get("/manage/settings/branding").get_data(as_text=True)
    assert "Settings › Branding" in page and 'aria-current="page">Branding' in page
    assert "Branding" in admin.get("/manage/settings/general").get_data(as_text=True)  # a tab of Settings
    token = csrf(page)
    r = admin.post("/manage/settings/branding", data={"csrf_token": token, "branding.name": "Acme",
                                                      "branding.color": "not-a-colour", "branding.logo_url": ""})
    assert r.status_code == 400 and "hex value" in r.get_data(as_text=True)
    r = admin.post("/manage/settings/branding", data={
        "csrf_token": token, "branding.name": "Acme", "branding.color": "#0a7d32", "branding.logo_url": "",
        "logo": (io.BytesIO(b"not an image"), "logo.txt")}, content_type="multipart/form-data")
    assert r.status_code == 400
    r = admin.post("/manage/settings/branding", data={
        "csrf_token": token, "branding.name": "Acme", "branding.color": "#0a7d32", "branding.logo_url": "",
        "logo": (io.BytesIO(PNG), "logo.png")}, content_type="multipart/form-data")
    assert r.status_code == 302
    logo = app.extensions["plugdesk"].runtime.get("branding.logo_url")
    assert re.fullmatch(r"/attachments/\d+", logo)
    anonymous = app.test_client()
    assert f'<img src="{logo}" alt="" class="logo">' in anonymous.get("/").get_data(as_text=True)
    assert anonymous.get(logo).status_code == 200  # the logo is public
    manager, _ = login_as(app, "manager")
    assert manager.get("/manage/settings/branding").status_code == 200
    assert manager.post("/manage/settings/branding", data={"csrf_token": token}).status_code in (400, 403)


def test_external_logo_is_allowed_by_the_csp_of_html_pages_only(app):
    st = app.extensions["plugdesk"]
    st.runtime.patch({"branding.logo_url": "https://cdn.example.com/logo.png"}, actor="t")
    client = app.test_client()
    csp = client.get("/").headers["Content-Security-Policy"]
    assert re.search(r"img-src [^;]*https://cdn\.example\.com", csp)
    assert "frame-ancestors" in csp and "script-src 'self'" in csp
    assert "cdn.example.com" not in client.get("/theme.css").headers.get("Content-Security-Policy", "")
