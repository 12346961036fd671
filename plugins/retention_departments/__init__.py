"""``retention_departments``: per-department auto close -> lock -> delete of tickets.

For every department with a switch on, as of ``now``:

* ``auto_close_days``: close tickets in ``waiting`` (an agent spoke last) whose last agent reply is older;
* ``lock_after_days``: lock closed tickets closed longer ago than that (also tickets closed by hand);
* ``delete_after_days``: delete closed tickets closed longer ago than that, with messages, history and
  attachment references.

This plugin is the policy (which tickets, when); it uses only the public contract: department settings come
from ``ctx.departments`` and the work is done by core's set-based, batched operations on ``ctx.tickets``.
Core holds the cluster-wide retention lock while it runs.

Configuration (optional): ``[plugins.retention_departments] batch_size = 10000`` (1..100000).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from core import ConfigModel, DepartmentInfo, PluginContext, SweepReport, hookimpl, parse_plugin_config

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "retention_departments"
DEFAULT_BATCH = 10_000
MAX_BATCH = 100_000


def _rules(ctx: PluginContext) -> tuple[tuple[str, str, Callable[..., int]], ...]:
    """(department setting, count name, operation) in the order they run: close, then lock, then delete."""
    return (("auto_close_days", "closed", ctx.tickets.close_waiting),
            ("lock_after_days", "locked", ctx.tickets.lock_closed),
            ("delete_after_days", "deleted", ctx.tickets.delete_closed))


class RetentionOptions(ConfigModel):
    """``[plugins.retention_departments]``."""

    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH, description="tickets per transaction")] = DEFAULT_BATCH


@hookimpl
def parse_config(raw: Mapping[str, Any]) -> dict[str, int]:
    """Accept ``batch_size`` (tickets per transaction); raise :class:`PluginConfigError` naming the key."""
    return parse_plugin_config(RetentionOptions, raw).model_dump()


def sweep_department(ctx: PluginContext, dept: DepartmentInfo, now: datetime, dry_run: bool,
                     batch: int) -> dict[str, int]:
    """Apply one department's rules as of ``now``; counts closed / locked / deleted."""
    counts = {"closed": 0, "locked": 0, "deleted": 0}
    for key, action, operation in _rules(ctx):
        days: int | None = getattr(dept, key)
        if days is None:
            continue
        counts[action] = operation(dept.id, now - timedelta(days=days), now=now, dry_run=dry_run, batch=batch,
                                   detail={"rule": key, "days": days, "department": dept.name})
    return counts


@hookimpl
def retention_sweep(now: datetime, dry_run: bool, ctx: PluginContext) -> SweepReport | None:
    """Close, then lock, then delete, per department with a switch on; counts per department name."""
    config = ctx.plugin_config(NAME)
    batch = config.get("batch_size", DEFAULT_BATCH) if isinstance(config, Mapping) else DEFAULT_BATCH
    departments = ctx.departments.list(with_retention=True)
    if not departments:
        return None
    report = SweepReport(plugin=NAME, dry_run=dry_run)
    log = ctx.log(NAME)
    for dept in departments:
        counts = sweep_department(ctx, dept, now, dry_run, batch)
        report.counts[dept.name] = counts
        if not dry_run and any(counts.values()):
            log.info("department %s: %s", dept.name, counts)
    return report
