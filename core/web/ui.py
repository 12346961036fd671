"""Mount what makes the portal and the management interface pleasant to use (issue 18): branding and
``/theme.css``, the agent workspace's canned responses, the dashboard's setup checklist."""

from __future__ import annotations

from typing import Any

from flask import Flask


def install(app: Flask) -> None:
    """Register branding, canned responses and the ``setup_checklist()`` template helper on ``app``."""
    from core import branding, workspace
    from core.app_state import state
    from core.web.checklist import setup_checklist

    branding.install(app)
    workspace.install(app)

    @app.context_processor
    def checklist_helper() -> dict[str, Any]:
        return {"setup_checklist": lambda: setup_checklist(state())}
