"""Who may claim outbox rows, and taking back rows a dead worker had claimed.

* **SQLite** (one database file on one host): one claimer at a time - an exclusive ``flock`` on a file next
  to the database, held while the worker runs. The kernel drops it when the process dies (even by
  ``kill -9``), so the next holder knows every row still marked ``sending`` is an orphan and queues it again.
* **PostgreSQL**: every worker claims (``SELECT ... FOR UPDATE SKIP LOCKED``, so no row is claimed twice)
  and holds a session advisory lock on its own random key on a dedicated connection. A row ``sending`` under
  a key whose lock can be taken belongs to a dead worker and is queued again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, text, update

from core.db import Database, rowcount
from core.models import utcnow
from core.outbox.models import OutboxMessage

log = logging.getLogger("plugdesk.outbox")
LOCK_CLASS = 0x706C_6F62  # "plob": the advisory lock class of outbox claimers


def node_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def sqlite_lock_path(db: Database) -> Path | None:
    """The claimer lock file of a SQLite database file (``None`` for in-memory databases)."""
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve().with_name(Path(name).name + ".outbox-lock")


class ClaimGuard:
    """This process's right to claim rows, and the recovery of orphaned claims."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.postgres = db.engine.dialect.name == "postgresql"
        self.key = secrets.randbelow(2**31 - 2) + 1
        self.name = f"{node_name()}:{self.key:x}"
        self._file: IO[bytes] | None = None
        self._conn: Any = None
        self.held = False

    def acquire(self) -> bool:
        """Take (or confirm) the right to claim; ``False`` when another process holds it (SQLite)."""
        if self.postgres:
            return self._acquire_pg()
        if self.held:
            return True
        path = sqlite_lock_path(self.db)
        if path is None:
            self.held = True
            return True
        fh = open(path, "ab")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._file, self.held = fh, True
        orphans = self._requeue(OutboxMessage.claimed_by != self.name)  # no other claimer can be alive
        if orphans:
            log.warning("outbox: %s message(s) left 'sending' by a stopped worker queued again", orphans)
        return True

    def _acquire_pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the lock connection died: our key is free again, take a new one
                self._drop_pg()
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(5):
            if conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": LOCK_CLASS, "k": self.key}).scalar():
                self._conn, self.held = conn, True
                self.name = f"{node_name()}:{self.key:x}"
                return True
            self.key = secrets.randbelow(2**31 - 2) + 1
        conn.close()
        return False

    def _drop_pg(self) -> None:
        conn, self._conn, self.held = self._conn, None, False
        try:
            conn.close()
        except Exception:
            pass

    def recover(self) -> int:
        """Queue again rows whose claimer is dead (PostgreSQL; on SQLite :meth:`acquire` did it)."""
        if not self.postgres or self._conn is None:
            return 0
        with self.db.session() as s:
            keys = set(s.scalars(select(OutboxMessage.claim_key).where(
                OutboxMessage.state == "sending", OutboxMessage.claim_key != self.key).distinct()))
        total = 0
        for key in keys:
            free = self._conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"),
                                      {"c": LOCK_CLASS, "k": key}).scalar()
            if free:
                try:
                    total += self._requeue(OutboxMessage.claim_key == key)
                finally:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": LOCK_CLASS, "k": key})
        if total:
            log.warning("outbox: %s message(s) of stopped workers queued again", total)
        return total

    def _requeue(self, condition: Any) -> int:
        with self.db.session() as s:
            done = s.execute(update(OutboxMessage).where(OutboxMessage.state == "sending", condition).values(
                state="queued", next_attempt_at=utcnow(), claimed_by="", claim_key=None))
            return rowcount(done)

    def release(self) -> None:
        """Give up the right to claim (the worker stops)."""
        if self._file is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file = None
        if self._conn is not None:
            self._drop_pg()
        self.held = False
