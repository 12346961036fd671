"""The background worker: one process (embedded in ``plugdesk serve`` or ``plugdesk worker``) that drains the
mail outbox and runs the periodic jobs (retention, storage gc, clean-ups) on one scheduler.

Modules: :mod:`~core.worker.config` (``[worker]`` settings), :mod:`~core.worker.models` (job and worker
status tables), :mod:`~core.worker.scheduler` (periodic jobs), :mod:`~core.worker.jobs` (the built-in jobs),
:mod:`~core.worker.runner` (the loop, the embedded process), :mod:`~core.worker.cli`, :mod:`~core.worker.web`.
This package file imports nothing, so :mod:`core.settings` can read the ``[worker]`` schema cheaply.
"""
