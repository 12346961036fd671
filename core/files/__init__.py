"""Deduplicated, reference-counted file storage (the mechanism; backends are ``storage_*`` plugins).

* :mod:`core.files.models` - ``blobs`` (one row per content) and ``attachments`` (one row per use).
* :mod:`core.files.service` - streaming SHA-256 ingest, references, garbage collection.
* :mod:`core.files.rules` - filename, extension and magic-byte rules for uploads.
* :mod:`core.files.uploads` - ``stage_uploads`` / ``save_uploads`` for views that accept files.
* :mod:`core.files.owners` - the owner-type registry that authorizes downloads.
* :mod:`core.files.web` - the download routes and the storage page of the management interface.
* :mod:`core.files.fsck` - consistency checks, repair and migration between backends.

See ``docs/storage.md``.
"""

from typing import Any


def drop_owner_references(st: Any, owner_type: str, owner_id: int, *, session: Any) -> int:
    """Drop every attachment of ``(owner_type, owner_id)`` inside ``session``'s (deleting) transaction.

    A convenience over :meth:`core.files.service.FileService.detach_owner` for code that holds an app state;
    works (it only touches the database) even when no storage backend is enabled.

    :return: the number of attachments removed.
    """
    from core.files.service import FileService

    service = FileService(st.db, st.storage, st.settings.data_dir / "tmp")  # type: ignore[arg-type]
    return service.detach_owner(session, owner_type, owner_id)
