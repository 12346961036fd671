"""Figure `bruteforce_check`: the lockout bookkeeping of one login vs one argon2 verify (goal <= 2 %)."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Any

from benchmarks.common import figure, free_port
from core.auth.hashing import password_hasher
from core.auth.lockout import Lockout
from core.limits import FallbackStore, MemoryStore, RedisStore

SETTINGS = {"security.brute_force.enabled": True, "security.brute_force.max_failures": 10**6,
            "security.brute_force.window_seconds": 300, "security.brute_force.lockout_seconds": 300}


def _per_login(lockout: Lockout, n: int) -> float:
    """Seconds per login for what core adds: is_locked + record_failure (the costlier path)."""
    t0 = time.perf_counter()
    for i in range(n):
        key = f"user{i % 50}"
        state = lockout.state(key)  # what core.auth.login does: one read, then the count
        lockout.record_failure(key, state)
    return (time.perf_counter() - t0) / n


def _argon2(n: int) -> float:
    hasher = password_hasher()
    stored = hasher.hash("benchmark password")
    t0 = time.perf_counter()
    for _ in range(n):
        hasher.verify(stored, "benchmark password")
    return (time.perf_counter() - t0) / n


def figures(quick: bool) -> list[dict[str, Any]]:
    """Measure both stores and argon2 alternately; report lockout cost / argon2 cost."""
    rounds, n, m = (3, 300, 10) if quick else (5, 2000, 30)
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = RedisStore(f"redis://127.0.0.1:{port}/0")
        for _ in range(100):
            try:
                store.ping()
                break
            except Exception:
                time.sleep(0.05)
        memory = Lockout(FallbackStore(MemoryStore(), MemoryStore()), SETTINGS.__getitem__)
        shared = Lockout(FallbackStore(store, MemoryStore()), SETTINGS.__getitem__)
        mem_t, red_t, argon_t = [], [], []
        for _ in range(rounds):
            mem_t.append(_per_login(memory, n))
            argon_t.append(_argon2(m))
            red_t.append(_per_login(shared, n // 4))
    finally:
        redis.terminate()
        redis.wait()
    argon = statistics.median(argon_t)
    out = []
    for name, samples in (("bruteforce_memory", mem_t), ("bruteforce_redis", red_t)):
        cost = statistics.median(samples)
        out.append(figure(name, cost * 1e6, argon * 1e6, "<= 0.02", "us/login",
                          "lockout check + failure count per login / one argon2id verify (ratio = fraction)",
                          ratio=cost / argon))
    return out
