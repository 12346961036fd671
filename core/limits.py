"""Shared counters and one-time markers in ``[limits] storage``: in-process (``memory://``), shared by the
processes of one machine (``local://``, :mod:`core.limits_local`) or Redis.

Used for brute-force counters, lockouts and captcha nonces. Every operation is atomic: 20 parallel
failures count 20, and a nonce can be claimed only once, on any node (with Redis).
"""

from __future__ import annotations

import abc
import threading
import time
from typing import Any


class LimitsUnavailable(RuntimeError):
    """The counter store cannot be reached (e.g. Redis down)."""


class CounterStore(abc.ABC):
    """Atomic counters with expiry, plus single-use markers."""

    @abc.abstractmethod
    def hit(self, key: str, window_seconds: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key`` (created with a ``window_seconds`` expiry); return the new count."""

    @abc.abstractmethod
    def get(self, key: str) -> int:
        """Current count (0 when absent or expired)."""

    @abc.abstractmethod
    def delete(self, *keys: str) -> None:
        """Remove keys."""

    @abc.abstractmethod
    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        """Set ``key`` only if absent; ``True`` when this call set it (single use)."""

    @abc.abstractmethod
    def read(self, key: str) -> str | None:
        """The value stored by :meth:`claim` or :meth:`write`, if not expired."""

    @abc.abstractmethod
    def write(self, key: str, value: str, ttl_seconds: int) -> None:
        """Store ``value`` with an expiry (overwrites)."""

    def read_many(self, keys: list[str]) -> list[str | None]:
        """Several :meth:`read` values at once (one round trip where the store allows it)."""
        return [self.read(key) for key in keys]

    def hit_many(self, items: list[tuple[str, int]]) -> list[int]:
        """Several :meth:`hit` calls (``(key, window_seconds)``) at once, each atomic."""
        return [self.hit(key, window) for key, window in items]

    def ping(self) -> None:  # noqa: B027 - in-process store is always there
        """Raise :class:`LimitsUnavailable` when the store cannot be reached."""


class MemoryStore(CounterStore):
    """In-process store (one box, one process). Thread-safe.

    Expired keys are dropped when read and, so that keys nobody reads again (every unknown username tried)
    cannot pile up, by a sweep over all keys at most every ``PURGE_EVERY`` seconds, run by a write.
    """

    PURGE_EVERY = 60.0

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._data: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._next_purge = clock() + self.PURGE_EVERY

    def __len__(self) -> int:
        """Keys held, expired ones not yet swept included."""
        return len(self._data)

    def _purge(self) -> None:
        """Drop every expired key (called with the lock held, at most every ``PURGE_EVERY`` seconds)."""
        now = self._clock()
        if now < self._next_purge:
            return
        self._next_purge = now + self.PURGE_EVERY
        for key in [k for k, (_v, expires) in self._data.items() if expires <= now]:
            del self._data[key]

    def _live(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock():
            del self._data[key]
            return None
        return value

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> int:
        with self._lock:
            self._purge()
            current = self._live(key)
            if current is None:
                self._data[key] = (amount, self._clock() + window_seconds)
                return amount
            expires = self._data[key][1]
            self._data[key] = (int(current) + amount, expires)
            return int(current) + amount

    def get(self, key: str) -> int:
        with self._lock:
            value = self._live(key)
            return int(value) if value is not None else 0

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        with self._lock:
            self._purge()
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._clock() + ttl_seconds)
            return True

    def read(self, key: str) -> str | None:
        with self._lock:
            value = self._live(key)
            return None if value is None else str(value)

    def write(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            self._purge()
            self._data[key] = (value, self._clock() + ttl_seconds)


class RedisStore(CounterStore):
    """Redis store shared by every node. Short timeouts: a dead Redis answers fast with an error."""

    def __init__(self, url: str, prefix: str = "plugdesk:") -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                           decode_responses=True)
        self.prefix = prefix

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise LimitsUnavailable(f"redis unreachable: {exc.__class__.__name__}") from exc

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> int:
        def run() -> int:
            pipe = self.client.pipeline(transaction=True)
            pipe.incrby(self.prefix + key, amount)
            pipe.expire(self.prefix + key, window_seconds, nx=True)
            return int(pipe.execute()[0])

        return self._call(run)

    def get(self, key: str) -> int:
        value = self._call(self.client.get, self.prefix + key)
        return int(value) if value is not None else 0

    def delete(self, *keys: str) -> None:
        if keys:
            self._call(self.client.delete, *[self.prefix + k for k in keys])

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        return bool(self._call(self.client.set, self.prefix + key, value, nx=True, ex=ttl_seconds))

    def read(self, key: str) -> str | None:
        return self._call(self.client.get, self.prefix + key)

    def write(self, key: str, value: str, ttl_seconds: int) -> None:
        self._call(self.client.set, self.prefix + key, value, ex=ttl_seconds)

    def read_many(self, keys: list[str]) -> list[str | None]:
        return self._call(self.client.mget, [self.prefix + k for k in keys])

    def hit_many(self, items: list[tuple[str, int]]) -> list[int]:
        def run() -> list[int]:
            pipe = self.client.pipeline(transaction=True)
            for key, window in items:
                pipe.incrby(self.prefix + key, 1)
                pipe.expire(self.prefix + key, window, nx=True)
            return [int(v) for v in pipe.execute()[::2]]

        return self._call(run)

    def ping(self) -> None:
        self._call(self.client.ping)


def make_store(url: str, data_dir: Any = None) -> CounterStore:
    """The store for ``[limits] storage`` (``local://`` keeps its file in ``data_dir``)."""
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("local://"):
        from core.limits_local import LocalStore, local_path

        return LocalStore(local_path(url, data_dir))
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url)
    raise ValueError(f"unsupported limits storage {url!r}; use memory://, local:// or redis://")


class FallbackStore(CounterStore):
    """Use ``primary``; while it is unreachable, use ``fallback`` (per-node) and log a warning.

    For login counters: a Redis outage must not lock everyone out, and per-node counting still limits
    guessing. ``degraded`` tells ``/healthz`` about it.
    """

    def __init__(self, primary: CounterStore, fallback: CounterStore) -> None:
        self.primary = primary
        self.fallback = fallback
        self.degraded = False
        self._warned_at = 0.0

    def _run(self, name: str, *args: Any) -> Any:
        try:
            result = getattr(self.primary, name)(*args)
        except LimitsUnavailable as exc:
            if time.monotonic() - self._warned_at > 60:
                import logging

                logging.getLogger("plugdesk.limits").warning(
                    "limits storage unavailable (%s); using per-node counters until it is back", exc)
                self._warned_at = time.monotonic()
            self.degraded = True
            return getattr(self.fallback, name)(*args)
        self.degraded = False
        return result

    def hit(self, key: str, window_seconds: int, amount: int = 1) -> int:
        return self._run("hit", key, window_seconds, amount)

    def get(self, key: str) -> int:
        return self._run("get", key)

    def delete(self, *keys: str) -> None:
        self._run("delete", *keys)

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        return self._run("claim", key, ttl_seconds, value)

    def read(self, key: str) -> str | None:
        return self._run("read", key)

    def write(self, key: str, value: str, ttl_seconds: int) -> None:
        self._run("write", key, value, ttl_seconds)

    def read_many(self, keys: list[str]) -> list[str | None]:
        return self._run("read_many", keys)

    def hit_many(self, items: list[tuple[str, int]]) -> list[int]:
        return self._run("hit_many", items)

    def ping(self) -> None:
        self.primary.ping()
