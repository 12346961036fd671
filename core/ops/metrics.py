"""Prometheus metrics (``prometheus_client``), per app, in one process or across gunicorn workers.

Counters and histograms are updated where things happen (the request middleware in :mod:`core.ops.web`,
the login flow, pluggy's hook-call monitoring, the SQLAlchemy pool). Under ``plugdesk serve`` they live in
``prometheus_client``'s multiprocess files (``PROMETHEUS_MULTIPROC_DIR``; `serve` creates a fresh one when
it is not set), so any worker answering ``/metrics`` reports the sum over all workers. Figures that the
database already knows (storage bytes, active lockouts, outbox depth) are read at scrape time by
:class:`DatabaseCollector`, cached for :data:`DB_TTL` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event, inspect, select, text

log = logging.getLogger("plugdesk.metrics")
DB_TTL = 15.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LOGIN_RESULTS = ("ok", "failed", "locked", "unavailable")


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when set (created if missing: prometheus_client writes there as soon as the
    variable is set)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    os.makedirs(path, exist_ok=True)
    return path


def _use_multiprocess_values() -> None:
    """Make metrics created from now on write to the multiprocess files (prometheus_client picks its value
    class when it is imported, which may be before `serve` set the directory)."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


class Metrics:
    """The metric objects of one app (not registered in prometheus_client's global registry, so several apps
    can live in one process, as in the tests)."""

    def __init__(self) -> None:
        self.build()

    def build(self) -> None:
        """(Re)create every metric; `serve` calls it again after setting ``PROMETHEUS_MULTIPROC_DIR``."""
        self.multiprocess = multiprocess_dir() is not None
        if self.multiprocess:
            _use_multiprocess_values()
        disable_created_metrics()  # the *_created series only add noise to every scrape
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if self.multiprocess else self.registry
        self.requests = Counter("plugdesk_http_requests", "HTTP requests by method, route rule and status.",
                                ["method", "route", "status"], registry=reg)
        self.latency = Histogram("plugdesk_http_request_duration_seconds", "Time to produce the response "
                                 "(route rule).", ["method", "route"], buckets=LATENCY_BUCKETS, registry=reg)
        self.logins = Counter("plugdesk_logins", "Login attempts by result: ok, failed, locked (refused while "
                              "locked), unavailable (directory down).", ["result"], registry=reg)
        self.lockouts = Counter("plugdesk_lockouts", "Accounts locked by brute-force protection.", registry=reg)
        self.tickets_opened = Counter("plugdesk_tickets_opened", "Tickets opened.", registry=reg)
        self.ticket_replies = Counter("plugdesk_ticket_replies", "Replies and notes added to tickets, by author "
                                      "(customer, agent, note).", ["author"], registry=reg)
        self.hook_calls = Counter("plugdesk_plugin_hook_calls", "Hook calls dispatched to a plugin's "
                                  "implementation.", ["plugin", "hook"], registry=reg)
        self.hook_errors = Counter("plugdesk_plugin_hook_errors", "Hook calls in which a plugin's implementation "
                                   "raised.", ["plugin", "hook"], registry=reg)
        self.backups = Counter("plugdesk_backups", "Backups written by this node, by result.", ["result"],
                               registry=reg)
        self.db_in_use = Gauge("plugdesk_db_connections_in_use", "Database connections checked out of the "
                               "pools (all workers).", registry=reg, multiprocess_mode="livesum")
        self.db_open = Gauge("plugdesk_db_connections_open", "Database connections open in the pools (all "
                             "workers).", registry=reg, multiprocess_mode="livesum")
        self.db_pool_size = Gauge("plugdesk_db_pool_capacity", "Connections the pools may hold (all workers).",
                                  registry=reg, multiprocess_mode="livesum")
        for result in LOGIN_RESULTS:
            self.logins.labels(result)  # export zeros: alerts on rate() need the series to exist

    def scrape_registry(self, extra: Sequence[Collector] = ()) -> CollectorRegistry:
        """The registry to expose: this process's, or a fresh one reading every worker's files."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = CollectorRegistry()
            registry.register(_Forward(self.registry))
        for collector in extra:
            registry.register(collector)
        return registry


class _Forward(Collector):
    """Expose another registry's metrics (so scrape-time collectors can be added per scrape)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


def render(metrics: Metrics, extra: Sequence[Collector] = ()) -> bytes:
    """The Prometheus text exposition."""
    return generate_latest(metrics.scrape_registry(extra))


# ----------------------------------------------------------------------------- database pool


class PoolWatcher:
    """Counts pool checkouts and connections in plain integers (pool events fire several times per request)
    and copies them into the gauges at most once a second (:meth:`flush`), and before every scrape."""

    def __init__(self, metrics: Metrics, engine: Any) -> None:
        self.metrics = metrics
        self.in_use = self.open = 0
        self._flushed = 0.0
        pool = engine.pool
        size = getattr(pool, "size", None)
        self.capacity = size() + max(getattr(pool, "_max_overflow", 0), 0) if callable(size) else 0
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)
        event.listen(engine, "connect", self._connect)
        event.listen(engine, "close", self._close)
        event.listen(engine, "close_detached", self._close)

    def _checkout(self, *_args: Any) -> None:
        self.in_use += 1

    def _checkin(self, *_args: Any) -> None:
        self.in_use -= 1

    def _connect(self, *_args: Any) -> None:
        self.open += 1

    def _close(self, *_args: Any) -> None:
        self.open -= 1

    def flush(self, now: float | None = None) -> None:
        """Copy the counts into the gauges (at most once a second unless ``now`` is ``None``)."""
        if now is not None:
            if now - self._flushed < 1.0:
                return
            self._flushed = now
        self.metrics.db_in_use.set(self.in_use)
        self.metrics.db_open.set(self.open)
        self.metrics.db_pool_size.set(self.capacity if self.open or self.in_use else 0)


# ----------------------------------------------------------------------------- plugin hooks


def _culprit(exc: BaseException, impls: Sequence[Any]) -> str | None:
    """The plugin whose implementation raised, found by walking the traceback."""
    codes = {getattr(i.function, "__code__", None): i.plugin_name for i in impls}
    tb, found = exc.__traceback__, None
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            found = name
        tb = tb.tb_next
    return found


def monitor_hooks(metrics: Metrics, pm: Any) -> Any:
    """Count hook calls and errors per plugin with ``pm.add_hookcall_monitoring``; count ticket events.

    A *firstresult* call counts for every plugin it was dispatched to. Ticket events are counted once per
    host call, however many plugins hear them. Returns pluggy's undo function.
    """
    seen = threading.local()
    children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def before(hook: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        for impl in impls:
            if not (impl.wrapper or impl.hookwrapper):
                key = (impl.plugin_name, hook)
                child = children.get(key)
                if child is None or child[1] is not metrics.hook_calls:  # new, or metrics rebuilt by `serve`
                    child = children[key] = (metrics.hook_calls.labels(*key), metrics.hook_calls)
                child[0].inc()
        if hook in ("ticket_created", "ticket_replied"):
            _count_ticket_event(metrics, seen, hook, kwargs)

    def after(outcome: Any, hook: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        exc = outcome.exception
        if exc is None:
            return
        plain = [i for i in impls if not (i.wrapper or i.hookwrapper)]
        culprit = plain[0].plugin_name if len(plain) == 1 else _culprit(exc, impls)
        metrics.hook_errors.labels(culprit or "unknown", hook).inc()

    return pm.add_hookcall_monitoring(before, after)


def _count_ticket_event(metrics: Metrics, seen: threading.local, hook: str, kwargs: Mapping[str, Any]) -> None:
    try:
        from core.plugin_calls import current_call

        call = current_call()
    except ImportError:  # pragma: no cover - older host: one pluggy call per event
        call = None
    key = (hook, call[0]) if call else None
    if key is not None and getattr(seen, "last", None) == key:
        return  # the same event, dispatched to the next plugin
    seen.last = key
    if hook == "ticket_created":
        metrics.tickets_opened.inc()
        return
    message = kwargs.get("message")
    author = "note" if getattr(message, "internal", False) else \
        "agent" if getattr(message, "from_agent", False) else "customer"
    metrics.ticket_replies.labels(author).inc()


# ----------------------------------------------------------------------------- scrape-time figures


class DatabaseCollector(Collector):
    """Gauges the database knows: storage usage, active lockouts, outbox depth/failures, schema revision."""

    def __init__(self, state: Any, ttl: float = DB_TTL) -> None:
        self.state = state
        self.ttl = ttl
        self._cached: tuple[float, list[Any]] = (-1e9, [])
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        with self._lock:
            stamp, families = self._cached
            if time.monotonic() - stamp >= self.ttl:
                families = self._families()
                self._cached = (time.monotonic(), families)
        return iter(families)

    def _families(self) -> list[Any]:
        out: list[Any] = []
        for part in (self._storage, self._lockouts, self._outbox, self._schema):
            try:
                out.extend(part())
            except Exception as exc:  # one failing source must not hide the others
                log.warning("metrics: %s failed: %s: %s", part.__name__.strip("_"), exc.__class__.__name__, exc)
        return out

    def _storage(self) -> list[Any]:
        from core.files.service import file_service

        if self.state.storage is None:
            return []
        usage = file_service(self.state).usage()
        gauges = {"plugdesk_storage_bytes_stored": ("Bytes of distinct blobs in the store.", "bytes_stored"),
                  "plugdesk_storage_bytes_saved": ("Bytes not stored twice thanks to deduplication.", "bytes_saved"),
                  "plugdesk_storage_blobs": ("Distinct blobs.", "blobs"),
                  "plugdesk_storage_attachments": ("Attachments (uses of blobs).", "attachments")}
        return [GaugeMetricFamily(name, doc, value=usage[key]) for name, (doc, key) in gauges.items()]

    def _lockouts(self) -> list[Any]:
        from core.models import AuditEntry, utcnow

        with self.state.db.session() as s:
            targets = set(s.scalars(select(AuditEntry.target).where(
                AuditEntry.action == "auth.lockout", AuditEntry.at > utcnow() - timedelta(days=1))))
        active = sum(1 for t in targets if self.state.lockout.state(t).locked)
        return [GaugeMetricFamily("plugdesk_lockouts_active", "Accounts locked right now.", value=active)]

    def _outbox(self) -> list[Any]:
        """Outbox depth and failures, read from the ``mail_outbox`` table (nothing when it does not exist)."""
        engine = self.state.db.engine
        if not inspect(engine).has_table("mail_outbox"):
            return []
        with engine.connect() as conn:
            counts = dict(conn.execute(text("SELECT state, COUNT(*) FROM mail_outbox WHERE state IN "
                                            "('queued', 'sending', 'failed') GROUP BY state")).all())
        family = GaugeMetricFamily("plugdesk_outbox_messages", "Outbox messages waiting (queued, sending) or "
                                   "given up (failed).", labels=["state"])
        for state_name in ("queued", "sending", "failed"):
            family.add_metric([state_name], counts.get(state_name, 0))
        depth = counts.get("queued", 0) + counts.get("sending", 0)
        return [family, GaugeMetricFamily("plugdesk_outbox_depth", "Messages not yet sent.", value=depth),
                GaugeMetricFamily("plugdesk_outbox_failed", "Messages that gave up.", value=counts.get("failed", 0))]

    def _schema(self) -> list[Any]:
        from core import __version__
        from core.ops.schema import light_status  # no Alembic import in a serving process

        found = light_status(self.state.db.engine)
        family = GaugeMetricFamily("plugdesk_build_info", "Code version and database schema revision.",
                                   labels=["version", "schema", "schema_state"])
        family.add_metric([__version__, found.revision(), found.state], 1)
        return [family]
