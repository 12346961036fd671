"""``[limits] storage = "local://"``: counters shared by the processes of one machine (SQLite, WAL)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from core.limits import make_store
from core.limits_local import LocalLimiterStorage, LocalStore, local_path
from core.serve import plan_workers


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_counts_expire_and_restart(tmp_path: Path) -> None:
    clock = Clock()
    store = LocalStore(tmp_path / "l.db", clock=clock)
    assert [store.hit("k", 300) for _ in range(3)] == [1, 2, 3]
    assert store.get("k") == 3 and store.hit("k", 300, amount=5) == 8
    clock.now += 301
    assert store.get("k") == 0 and store.hit("k", 300) == 1  # a new window starts after expiry
    store.delete("k")
    assert store.get("k") == 0


def test_claim_is_single_use_until_expiry(tmp_path: Path) -> None:
    clock = Clock()
    store = LocalStore(tmp_path / "l.db", clock=clock)
    assert store.claim("nonce", 60, "a") is True
    assert store.claim("nonce", 60, "b") is False and store.read("nonce") == "a"
    clock.now += 61
    assert store.read("nonce") is None and store.claim("nonce", 60, "c") is True
    store.write("w", "v", 10)
    assert store.read("w") == "v" and store.read_many(["w", "nonce", "x"]) == ["v", "c", None]


def _hammer(path: str, n: int) -> None:
    store = LocalStore(path)
    for _ in range(n):
        store.hit("shared", 300)


def test_processes_share_exact_counts(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    store = LocalStore(path)
    store.hit("shared", 300)  # the parent's connection must not leak into the children
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(path), 50)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert store.get("shared") == 151


def test_make_store_and_paths(tmp_path: Path) -> None:
    assert local_path("local://", tmp_path) == tmp_path / "limits.db"
    assert local_path("local:///srv/x.db", tmp_path) == Path("/srv/x.db")
    store = make_store("local://", tmp_path)
    assert isinstance(store, LocalStore) and store.path == tmp_path / "limits.db"
    store.ping()


def test_flask_limiter_storage(tmp_path: Path) -> None:
    storage = LocalLimiterStorage(f"plugdesk-local://{tmp_path / 'l.db'}")
    assert storage.incr("a", 60) == 1 and storage.incr("a", 60) == 2 and storage.get("a") == 2
    assert storage.get_expiry("a") > 0 and storage.check()
    storage.clear("a")
    assert storage.get("a") == 0
    LocalStore(tmp_path / "l.db").hit("lockout", 60)
    storage.incr("b", 60)
    assert storage.reset() == 1 and LocalStore(tmp_path / "l.db").get("lockout") == 1  # only its own keys


@pytest.mark.parametrize(("storage", "cores_used"), [("local://", True), ("memory://", False)])
def test_serve_plans_one_worker_per_core_with_local_counters(storage: str, cores_used: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    workers, _threads, note = plan_workers(storage, None)
    assert workers == (4 if cores_used else 1) and not note


def test_two_apps_on_one_machine_share_the_per_address_limit(tmp_path: Path) -> None:
    """Two app instances (as two gunicorn workers) with ``local://`` count one address's failed logins
    together: flask-limiter's windows live in the shared file, not in each process."""
    from core.app_state import state
    from core.testing import make_test_app
    from tests.kb.helpers import set_setting

    overrides = {"limits": {"storage": "local://"}}
    first = make_test_app(tmp_path / "site", ["auth_local"], overrides=overrides)
    set_setting(first, "security.brute_force.ip_limit", "3 per minute")
    second = make_test_app(tmp_path / "site", ["auth_local"], overrides=overrides)
    assert first.extensions["plugdesk_limiter"]._storage.__class__ is LocalLimiterStorage
    assert state(first).ctx.limits.path == state(second).ctx.limits.path == tmp_path / "site" / "limits.db"
    codes = [app.test_client().post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code
             for app in (first, second, first, second)]
    assert codes == [401, 401, 401, 429]
