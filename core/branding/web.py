"""``/theme.css`` and Settings › Branding (name, colour, logo upload or address)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.app_state import state
from core.auth.sessions import has_role
from core.branding import OWNER_TYPE, SETTINGS, current_brand
from core.branding.theme import theme_css
from core.runtime_settings import SettingsValidationError
from core.types import Role
from core.web.forms import PostForm
from core.web.helpers import current_user, login_required, request_info

bp = Blueprint("branding", __name__)
LOGO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
LOGO_MAX_BYTES = 2 * 1024 * 1024


@bp.get("/theme.css")
def theme() -> ResponseReturnValue:
    """The brand's custom properties; cached for a year under ``?v=<version>``, revalidated otherwise."""
    brand = current_brand(state())
    response = Response(theme_css(brand.color), mimetype="text/css")
    response.set_etag(brand.version)
    if request.args.get("v") == brand.version:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def _store_logo() -> str:
    """Store the uploaded ``logo`` file (a raster image) and return its address; raise ``ValueError``."""
    from core.files import drop_owner_references
    from core.files.rules import UploadRejected
    from core.files.uploads import stage_uploads

    st = state()
    if st.storage is None:
        raise ValueError("No storage backend is enabled; give the logo's https:// address instead.")
    try:
        with stage_uploads(request, "admin", field="logo", max_file_bytes=LOGO_MAX_BYTES) as staged:
            if len(staged) != 1:
                raise ValueError("Choose one image file.")
            if staged[0].content_type not in LOGO_TYPES:
                raise ValueError("The logo must be a PNG, JPEG, GIF or WebP image.")
            with st.db.session() as s:
                drop_owner_references(st, OWNER_TYPE, 1, session=s)  # the previous logo goes when gc runs
                attachment = staged.attach(s, OWNER_TYPE, 1)[0]
                return url_for("files.web_download", attachment_id=attachment.id)
    except UploadRejected as exc:
        raise ValueError(exc.message) from None


@bp.route("/manage/settings/branding", methods=["GET", "POST"])
@login_required(Role.MANAGER)
def branding() -> ResponseReturnValue:
    """Settings › Branding: admins edit, managers read."""
    st = state()
    user = current_user()
    editable = has_role(user, Role.ADMIN)
    form = PostForm()
    errors: dict[str, str] = {}
    values = {spec.key: st.runtime.get(spec.key) for spec in SETTINGS}
    if request.method == "POST":
        if not editable:
            abort(403)
        if not form.validate_on_submit():
            abort(400, "The form expired; reload the page and try again.")
        changes = {spec.key: request.form.get(spec.key, "") for spec in SETTINGS}
        if request.form.get("remove_logo") == "on":
            changes["branding.logo_url"] = ""
        elif request.files.get("logo") and request.files["logo"].filename:
            try:
                changes["branding.logo_url"] = _store_logo()
            except ValueError as exc:
                errors["logo"] = str(exc)
        if not errors:
            try:
                changed = st.runtime.patch(changes, actor=user.username if user else "?",
                                           ip=request_info().remote_addr, lax=True)
            except SettingsValidationError as exc:
                errors = exc.errors
            else:
                flash(f"Saved ({len(changed)} change{'s' if len(changed) != 1 else ''}).", "success")
                return redirect(url_for("branding.branding"))
        values.update(changes)
    tabs = _tabs()
    return render_template("manage/branding.html", values=values, errors=errors, editable=editable, form=form,
                           specs=SETTINGS, tabs=tabs, uploads=st.storage is not None), 400 if errors else 200


def _tabs() -> dict[str, str]:
    """The Settings tabs (the same list as Settings › Security shows)."""
    from core.web.manage import TABS

    st = state()
    tabs = {t.lower().replace(" ", "-"): t for t in TABS}
    extra = sorted({s.tab for s in st.runtime.specs.values() if s.tab not in TABS})
    tabs.update({t.lower().replace(" ", "-"): t for t in extra})
    return tabs
