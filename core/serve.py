"""Run the app under gunicorn (``plugdesk serve``)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def plan_workers(limits_storage: str, requested: int | None) -> tuple[int, int, str]:
    """Worker processes and threads for `serve`, with a note for the operator.

    With ``local://`` limits (what ``plugdesk init`` writes) every process on the machine shares the counters
    (lockouts, rate limits, captcha nonces) in a SQLite file, so `serve` runs one process per core; with Redis
    every node shares them and ``2 x cores + 1`` (at most 8) processes are used. With ``memory://`` counters
    live in one process, so `serve` runs one process with threads; asking for several processes then works
    but counts per process (warned).
    """
    shared = not limits_storage.startswith("memory://")
    cores = os.cpu_count() or 1
    if requested is None:
        if limits_storage.startswith("local://"):
            requested = max(1, min(cores, 16))
        else:
            requested = min(8, 2 * cores + 1) if shared else 1
    note = ""
    if requested > 1 and not shared:
        note = ("warning: [limits] storage = memory:// with several workers counts failed logins and rate limits "
                "per worker; use local:// (one machine) or redis:// (several) to share them")
    return requested, (4 if requested > 1 else 8), note


def gunicorn_options(host: str, port: int, workers: int, threads: int = 4) -> dict[str, Any]:
    """The gunicorn settings `serve` uses (the benchmarks use the same for their baseline).

    gunicorn trusts no forwarded header from any address (``forwarded_allow_ips`` empty, no secure scheme
    headers): the app's ProxyFix alone reads ``X-Forwarded-*``, and only from ``server.trusted_proxies`` hops,
    so with ``trusted_proxies = 0`` a client on 127.0.0.1 cannot claim https with ``X-Forwarded-Proto``.

    With several workers each opens its own ``SO_REUSEPORT`` listener, so the kernel spreads connections over
    the processes: with one shared listener, the first worker to wake up accepted a whole burst of keep-alive
    connections (16 of 16 from the benchmark's client, or from a proxy's upstream pool) while the other cores
    idled. `plugdesk serve` first checks that nothing else listens on the port (``SO_REUSEPORT`` would share it).

    gunicorn's control socket (``~/.gunicorn/gunicorn.ctl`` in gunicorn 27) stays off: plugdesk never uses it,
    two sites run by one user would share that one path, and a service user's home may not be writable.
    """
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
            "timeout": 120, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
            "limit_request_line": 8190, "forwarded_allow_ips": "", "secure_scheme_headers": {},
            "reuse_port": workers > 1, "control_socket_disable": True}


def port_free(host: str, port: int) -> None:
    """Raise ``OSError`` (address in use) when another process listens on ``host:port``: a listener bound with
    ``SO_REUSEPORT`` by another server would otherwise silently share the port with this one."""
    import socket

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        probe.bind((host.strip("[]"), port))


#: Allocations from this size on get pages of their own (mmap) that go back to the system when freed.
MMAP_THRESHOLD = 512 * 1024


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Tune glibc's malloc for long-lived threaded workers; the settings are inherited by the forked workers.

    * At most ``arenas`` malloc arenas (``M_ARENA_MAX``): each gthread thread otherwise gets an arena of its
      own, and a worker's RSS grows with fragments spread over them (as ``MALLOC_ARENA_MAX=2`` would).
    * A fixed ``M_MMAP_THRESHOLD``: glibc raises its threshold to the size of the largest block freed so far,
      so after the first password hash (Argon2id, 19 MiB, see :mod:`core.auth.hashing`) every later hash came
      from the heap and the 19 MiB stayed resident in every worker that ever checked a password (issue 22:
      +20 MiB RSS per worker). With a fixed threshold big blocks are mapped and unmapped each time.

    ``False`` where there is no glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        arenas_set = libc.mallopt(-8, arenas)  # M_ARENA_MAX
        return bool(libc.mallopt(-3, mmap_threshold) and arenas_set)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def run(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. The app is built once and forked into the workers."""
    from core.ops.serving import prepare

    options = {**gunicorn_options(host, port, workers, threads), **prepare(app)}  # logs, multiprocess metrics
    from core.web.fastpaths import precompile_templates

    precompile_templates(app)  # compiled once here, shared by the forked workers
    from core.tickets.search import index_ready

    st = app.extensions["plugdesk"]
    index_ready(st.extras, st.db.engine)  # built or repaired before serving; the workers inherit the answer
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # else each worker configures every mapper (~1.5 MiB of its own) on its first query
    st.db.dispose()  # no pooled connections may cross the fork
    import gc

    gc.collect()
    gc.freeze()  # the app's objects stay out of the workers' collections: their pages stay shared
    limit_malloc_arenas()
    from core.worker.runner import start_embedded

    start_embedded(app)  # the background worker (mail outbox, periodic jobs) unless [worker] embedded = false
    _Gunicorn(app, options).run()
