"""Figure `backup`: MiB/s of `plugdesk backup create` vs `tar -cf` of the same data directory (goal >= 0.7).

Full size: 1 GiB of blobs (2,048 x 512 KiB) and 100,000 tickets with two messages each, one attachment per
blob. Quick mode: 64 MiB (256 x 256 KiB) and 5,000 tickets. Rows are bulk-inserted with SQL after
`plugdesk init`; blob files are written where storage_fs keeps them. Both commands read the same data
directory (warm page cache) and write into the same filesystem, alternately; the numerator is the size of
the data directory for both. The plugdesk time is the one the command reports (from opening the database to
the renamed archive); the interpreter start of the CLI is given in the note.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, figure

TS = "2026-01-01 10:00:00.000000"


def _seed(data: Path, tickets: int, blobs: int, blob_size: int) -> int:
    """Tickets, messages, blobs and attachments straight into the database and the file store; returns bytes."""
    db = sqlite3.connect(data / "plugdesk.db")
    dept = db.execute("SELECT id FROM departments ORDER BY id LIMIT 1").fetchone()
    if dept is None:
        db.execute("INSERT INTO departments (name, description, public, created_at) VALUES ('Support', '', 1, ?)",
                   (TS,))
        dept = db.execute("SELECT id FROM departments ORDER BY id LIMIT 1").fetchone()
    chunk = 20_000
    for start in range(0, tickets, chunk):
        ids = range(start + 1, min(tickets, start + chunk) + 1)
        db.executemany("INSERT INTO tickets (id, subject, department_id, guest_email, status, locked, created_at, "
                       "updated_at) VALUES (?, ?, ?, 'guest@example.org', 'open', 0, ?, ?)",
                       [(i, f"Ticket {i}", dept[0], TS, TS) for i in ids])
        db.executemany("INSERT INTO ticket_messages (id, ticket_id, author_name, from_agent, internal, body, "
                       "created_at) VALUES (?, ?, 'Guest', ?, 0, ?, ?)",
                       [(2 * i - k, i, k, f"Message {k} of ticket {i}: " + "the printer jams again. " * 12, TS)
                        for i in ids for k in (1, 0)])
    files = data / "files"
    total = 0
    for n in range(blobs):
        content = os.urandom(blob_size)
        digest = hashlib.sha256(content).hexdigest()
        path = files / digest[:2] / digest[2:4] / digest
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(content)
        total += blob_size
        db.execute("INSERT INTO blobs (digest, size, refcount, state, created_at) VALUES (?, ?, 1, 'stored', ?)",
                   (digest, blob_size, TS))
        db.execute("INSERT INTO attachments (owner_type, owner_id, filename, content_type, size, blob_digest, "
                   "created_at) VALUES ('ticket_message', ?, ?, 'application/octet-stream', ?, ?, ?)",
                   (1 + 2 * (n % tickets), f"file{n}.bin", blob_size, digest, TS))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return total


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def figures(quick: bool) -> list[dict[str, Any]]:
    """Backup vs tar of one seeded data directory, alternately, medians of MiB/s."""
    tickets, blobs, blob_size, rounds = (5_000, 256, 256 * 1024, 3) if quick else (100_000, 2048, 512 * 1024, 3)
    tmp = Path(tempfile.mkdtemp(prefix="plugdesk-bench-backup-"))
    try:
        pw = tmp / "pw"
        pw.write_text("benchmark admin password")
        data = tmp / "d"
        subprocess.run([str(BIN / "plugdesk"), "init", "--data-dir", str(data), "--admin-password-file", str(pw)],
                       check=True, capture_output=True)
        _seed(data, tickets, blobs, blob_size)
        size = _dir_bytes(data)
        out = tmp / "out"
        out.mkdir()
        mib = size / 1048576
        plugdesk_rates, tar_rates, durable_rates, walls = [], [], [], []
        for n in range(rounds + 1):  # the first round warms the page cache and is not counted
            target = out / "backup.tar"
            started = time.perf_counter()
            done = subprocess.run([str(BIN / "plugdesk"), "--config", str(data / "plugdesk.toml"), "backup",
                                   "create", "--to", str(target), "--json"], check=True, capture_output=True,
                                  text=True)
            wall = time.perf_counter() - started
            seconds = json.loads(done.stdout)["seconds"]
            target.unlink()
            started = time.perf_counter()
            subprocess.run(["tar", "-cf", str(out / "plain.tar"), "-C", str(data), "."], check=True)
            tar_seconds = time.perf_counter() - started
            subprocess.run(["sync", str(out / "plain.tar")], check=True)  # what plugdesk's fsync costs tar
            durable_seconds = time.perf_counter() - started
            (out / "plain.tar").unlink()
            if n:
                plugdesk_rates.append(mib / seconds)
                tar_rates.append(mib / tar_seconds)
                durable_rates.append(mib / durable_seconds)
                walls.append(wall - seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [figure("backup", statistics.median(plugdesk_rates), statistics.median(tar_rates), ">= 0.7", "MiB/s",
                   f"{mib:.0f} MiB data dir ({blobs} blobs of {blob_size // 1024} KiB, {tickets:,} tickets x 2 "
                   f"messages, SQLite + storage_fs); `plugdesk backup create` (online SQLite backup, manifest with "
                   f"checksums, tar) vs `tar -cf` of the data dir, alternately, {rounds} rounds after a warm-up, "
                   f"same filesystem; plugdesk fsyncs the archive before renaming it, tar does not; CLI start-up "
                   f"adds {statistics.median(walls):.1f} s per run, not counted"),
            figure("backup_vs_durable_tar", statistics.median(plugdesk_rates), statistics.median(durable_rates),
                   "(info)", "MiB/s", "the same runs against `tar -cf` followed by `sync` of the archive (both "
                   "durable when they return)")]
