"""Extra ``/healthz`` fields: the schema revision and each enabled plugin's health.

``status`` keeps its contract meaning (database and storage answer); these fields inform operators and
never turn a healthy node unhealthy. A node whose database was migrated past its code reports
``schema.state = "ahead"`` (it answers 503 on writes until it is upgraded).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("plugdesk.health")


def _schema(st: Any) -> dict[str, Any]:
    from core.ops.schema import light_status  # no Alembic import in a serving process

    guard = st.extras.get("ops.guard")
    try:
        found = light_status(st.db.engine, guard.locations if guard is not None else ())
    except Exception as exc:  # reported by checks.database already
        return {"state": "unknown", "detail": exc.__class__.__name__}
    return {"revision": found.revision(), "code": ",".join(found.code), "state": found.state}


def _plugins(st: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: {"status": "ok"} for name in st.host.order}
    try:
        results = st.host.each("plugin_warnings", ctx=st.ctx)
    except Exception as exc:
        plugin = getattr(exc, "plugin", None)
        if plugin in out:
            out[plugin] = {"status": "error", "detail": f"plugin_warnings raised {exc.__class__.__name__}"}
        log.warning("healthz: plugin_warnings failed: %s", exc)
        results = []
    for plugin, warnings in results:
        if warnings and plugin in out:
            out[plugin] = {"status": "degraded", "detail": "; ".join(str(w) for w in warnings)[:500]}
    captcha = st.runtime.get("security.captcha.provider") if st.runtime.get("security.captcha.enabled") else None
    if captcha:
        from core.captcha import provider_problem

        problem = provider_problem(st.captchas.get(captcha))
        owner = next((name for name in out if name.startswith("captcha_") and captcha in name), None)
        if problem and owner:
            out[owner] = {"status": "error", "detail": problem}
    return out


def health_details(st: Any) -> dict[str, Any]:
    """``{"schema": {...}, "plugins": {name: {"status", "detail"?}}}`` for ``/healthz``."""
    details: dict[str, Any] = {"schema": _schema(st)}
    try:
        details["plugins"] = _plugins(st)
    except Exception as exc:  # health must answer whatever a plugin does
        log.warning("healthz: plugin health failed: %s", exc)
    return details
