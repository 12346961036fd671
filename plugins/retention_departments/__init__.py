"""``retention_departments``: per-department auto close -> lock -> delete of tickets.

For every department with a switch on, as of ``now``:

* ``auto_close_days``: close tickets in ``waiting`` (an agent spoke last) whose last agent reply is older;
* ``lock_after_days``: lock closed tickets closed longer ago than that (also tickets closed by hand);
* ``delete_after_days``: delete closed tickets closed longer ago than that, with messages, history and
  attachment references.

The work is done by core's set-based, batched operations (:mod:`core.tickets.bulk`); this plugin is the
policy: which tickets, when. Core holds the cluster-wide retention lock while it runs.

Configuration (optional): ``[plugins.retention_departments] batch_size = 10000`` (1..100000).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from core import hookimpl
from core.tickets import bulk
from core.tickets.models import Department
from core.types import PluginConfigError, SweepReport

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "retention_departments"
RULES = (("auto_close_days", "closed", bulk.close_condition, bulk.close_tickets),
         ("lock_after_days", "locked", bulk.lock_condition, bulk.lock_tickets),
         ("delete_after_days", "deleted", bulk.delete_condition, bulk.delete_tickets))


@hookimpl
def parse_config(raw: Mapping[str, Any]) -> dict[str, int]:
    """Accept ``batch_size`` (tickets per transaction)."""
    unknown = set(raw) - {"batch_size"}
    if unknown:
        raise PluginConfigError(sorted(unknown)[0], "unknown key; accepted: batch_size")
    size = raw.get("batch_size", bulk.DEFAULT_BATCH)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
        raise PluginConfigError("batch_size", "expected a whole number from 1 to 100000")
    return {"batch_size": size}


@hookimpl
def retention_sweep(now: datetime, dry_run: bool, ctx: Any) -> SweepReport | None:
    """Close, then lock, then delete, per department with a switch on; counts per department name."""
    config = ctx.plugin_config(NAME)
    batch = config.get("batch_size", bulk.DEFAULT_BATCH) if isinstance(config, Mapping) else bulk.DEFAULT_BATCH
    with ctx.db.session() as s:
        departments = [(d.id, d.name, {key: getattr(d, key) for key, *_ in RULES})
                       for d in s.scalars(select(Department).where(or_(
                           Department.auto_close_days.is_not(None), Department.lock_after_days.is_not(None),
                           Department.delete_after_days.is_not(None))).order_by(Department.id))]
    if not departments:
        return None
    report = SweepReport(plugin=NAME, dry_run=dry_run)
    log = ctx.log(NAME)
    for dept_id, dept_name, days in departments:
        counts = {"closed": 0, "locked": 0, "deleted": 0}
        for key, action, condition, apply in RULES:
            if days[key] is None:
                continue
            rule = bulk.Rule(department_id=dept_id, before=now - timedelta(days=days[key]), now=now,
                             detail={"rule": key, "days": days[key], "department": dept_name})
            if dry_run:
                counts[action] = bulk.count(ctx.db, condition(rule))
            else:
                counts[action] = apply(ctx.db, rule, batch=batch)
        report.counts[dept_name] = counts
        if not dry_run and any(counts.values()):
            log.info("department %s: %s", dept_name, counts)
    return report
