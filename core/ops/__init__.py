"""Running plugdesk for customers: backup and restore, metrics, structured logs, safe upgrades.

Nothing is imported here eagerly (``core.settings`` imports :mod:`core.ops.config`); the pieces are
``core.ops.schema`` (revisions, upgrade lock, write guard), ``core.ops.logs`` (JSON logs, request ids),
``core.ops.metrics`` and ``core.ops.web`` (``/metrics``, the request middleware), ``core.ops.backup``,
``core.ops.restore`` and ``core.ops.schedule`` (archives), ``core.ops.cli`` (the commands).
"""

from __future__ import annotations

from typing import Any


def install(app: Any) -> None:
    """Wire request ids, access logs, metrics, the write guard and ``/metrics`` into ``app`` (last step of
    :func:`core.app.create_app`)."""
    from core.ops.web import install as install_web

    install_web(app)
