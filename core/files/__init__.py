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
