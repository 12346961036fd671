"""Every module that defines tables, in one place (Alembic and the schema tests import them all)."""

from __future__ import annotations

import importlib
from typing import Any

MODEL_MODULES = ("core.models", "core.files.models", "core.kb.models", "core.community.models",
                 "core.tickets.models", "core.retention",
                 "core.outbox.models", "core.worker.models", "core.auth.external_logins",
                 "core.workspace.models", "core.twofactor.models", "core.auth.session_records",
                 "core.inbound.models")

#: Tables managed outside Alembic: SQLite's FTS5 virtual tables for KB and ticket search and their shadow tables.
UNMANAGED_PREFIXES = ("kb_articles_fts", "tickets_search")


def import_all_models() -> None:
    """Register every table on ``core.db.Base.metadata``."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


#: Indexes a migration creates where the database allows (PostgreSQL ``pg_trgm``, migration 0015), not on the
#: models.
UNMANAGED_INDEXES = frozenset({"ix_tickets_subject_trgm", "ix_tickets_guest_email_trgm"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: ignore tables and indexes that are not Alembic's business."""
    if type_ == "index" and name in UNMANAGED_INDEXES:
        return False
    return not (type_ == "table" and name is not None and name.startswith(UNMANAGED_PREFIXES))
