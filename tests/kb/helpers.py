"""Helpers shared by the KB and community tests."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from core.app_state import state


def csrf(html: str) -> str:
    """The CSRF token of the first form in a page."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def make_article(app: Flask, title: str = "Reset your password", body: str = "<p>Click <b>Forgot</b>.</p>",
                 published: bool = True, category_id: int | None = None, **kw: Any) -> Any:
    """Create an article through the service (sanitizes like every other path)."""
    from core.kb.service import save_article

    with app.app_context():
        return save_article(state(app), title=title, body_html=body, published=published,
                            category_id=category_id, **kw)


def set_setting(app: Flask, key: str, value: Any) -> None:
    """Change a runtime setting the way admins do (validated, audited)."""
    state(app).runtime.patch({key: value}, actor="test")


def token_for(app: Flask, user: Any) -> dict[str, str]:
    """An Authorization header for ``user``."""
    from core.auth.sessions import issue_token
    from core.models import User

    st = state(app)
    with st.db.session() as s:
        return {"Authorization": f"Bearer {issue_token(st.db, s.get(User, user.id))}"}
