"""Email to ticket in the web UI: quoted history folded in ticket views, and Management › Mail › Inbound.

Importing this module also registers the ``inbound_mail`` table (``core.inbound.models``) with the app.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from sqlalchemy import select

from core.app_state import state
from core.inbound.models import InboundMail
from core.inbound.rules import split_quoted
from core.web.helpers import login_required

bp = Blueprint("inbound_manage", __name__, url_prefix="/manage")
PAGE = 200


def _lines(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in text.split("\n"))


def message_body(body: str) -> Markup:
    """A message's text for a ticket view: the new text, and quoted history or signature folded below it."""
    top, folded = split_quoted(body or "")
    if not folded:
        return _lines(body or "")
    return _lines(top) + Markup('<details class="quoted"><summary>Show quoted text</summary>'
                                '<div class="quoted-text">') + _lines(folded) + Markup("</div></details>")


@bp.get("/mail/inbound")
@login_required("manager")
def inbound() -> ResponseReturnValue:
    """The latest emails fetched from mail sources and what became of each (ticket, reply, filed, refused)."""
    with state().db.session() as s:
        rows = list(s.scalars(select(InboundMail).order_by(InboundMail.id.desc()).limit(PAGE)))
    return render_template("manage/mail_inbound.html", rows=rows)


def install(app: Flask) -> None:
    """Register the page and the ``message_body`` template filter."""
    app.register_blueprint(bp)
    app.jinja_env.filters["message_body"] = message_body
