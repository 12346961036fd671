"""Scheduled backups with retention (keep N), run by the background worker's scheduler.

The job ``backup`` runs every ``[backup] interval_hours`` (0 = off) on exactly one worker of the cluster
(the scheduler's claim), writes ``plugdesk-YYYYmmdd-HHMMSS.tar`` into ``[backup] dir`` (relative to the
data directory) and then deletes the oldest archives beyond ``[backup] keep``. Its last run (status and
summary) shows on the Management > Background jobs page; ``plugdesk backup list`` lists the archives.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.settings import Settings

NAME = re.compile(r"^plugdesk-(\d{8}-\d{6})(-[0-9a-z]+)?\.tar$")


def backup_dir(settings: Settings) -> Path:
    """``[backup] dir``, absolute (relative paths are relative to the data directory)."""
    path = Path(settings.get("backup", "dir")).expanduser()
    return path if path.is_absolute() else settings.data_dir / path


def list_backups(directory: Path) -> list[dict[str, Any]]:
    """Scheduled-style archives in ``directory``, newest first, with what their manifests say."""
    from core.ops.archive import ArchiveError, read_manifest

    items = []
    for path in sorted(directory.glob("plugdesk-*.tar"), reverse=True):
        if not NAME.match(path.name):
            continue
        item: dict[str, Any] = {"name": path.name, "path": str(path), "bytes": path.stat().st_size,
                                "created_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()}
        try:
            manifest = read_manifest(path)
            item.update(created_at=manifest["created_at"], schema=manifest["database"]["schema"],
                        plugdesk_version=manifest["plugdesk_version"], blobs=manifest["storage"]["blobs"],
                        tickets=manifest.get("counts", {}).get("tickets"))
        except (ArchiveError, KeyError) as exc:
            item["error"] = str(exc)
        items.append(item)
    return items


def prune(directory: Path, keep: int) -> list[str]:
    """Delete the oldest scheduled archives beyond ``keep``; returns the names deleted."""
    archives = sorted((p for p in directory.glob("plugdesk-*.tar") if NAME.match(p.name)), reverse=True)
    gone = []
    for path in archives[keep:]:
        path.unlink(missing_ok=True)
        gone.append(path.name)
    return gone


def count_backup(state: Any, result: str) -> None:
    """Count a backup in ``plugdesk_backups_total`` (when metrics are on)."""
    metrics = state.extras.get("metrics")
    if metrics is not None:
        metrics.backups.labels(result).inc()


def run_scheduled_backup(state: AppState, now: datetime | None = None) -> str:
    """Write one archive into ``[backup] dir`` and prune to ``[backup] keep``; a one-line summary."""
    from core.ops.backup import create_backup

    now = now or datetime.now(UTC)
    directory = backup_dir(state.settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = directory / f"plugdesk-{now.strftime('%Y%m%d-%H%M%S')}.tar"
    try:
        summary = create_backup(state, target, blobs=state.settings.get("backup", "blobs"))
    except Exception:
        count_backup(state, "failed")
        raise
    count_backup(state, "ok")
    gone = prune(directory, state.settings.get("backup", "keep"))
    return (f"wrote {target.name} ({summary['bytes'] / 1048576:.1f} MiB, {summary['blob_count']} blobs) in "
            f"{summary['seconds']:.1f} s; kept {state.settings.get('backup', 'keep')}, deleted {len(gone)}")


def _interval(state: AppState) -> float | None:
    hours = state.settings.get("backup", "interval_hours")
    return hours * 3600.0 if hours else None


def jobs() -> list[Any]:
    """The ``backup`` job for the worker's scheduler (:data:`core.worker.scheduler.JOB_MODULES`)."""
    from core.worker.scheduler import Job

    return [Job("backup", "Backup (keep N)", _interval, run_scheduled_backup,
                help="Every [backup] interval_hours into [backup] dir, keeping [backup] keep archives; "
                     "`plugdesk backup create --to PATH` takes one by hand.")]
