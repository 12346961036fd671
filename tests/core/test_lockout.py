"""Brute-force protection: counting, lockout, escalation, caps, shared counters (memory and real Redis)."""

from __future__ import annotations

import threading

import pytest

from core.auth.lockout import HOURLY_CAP, Lockout
from core.limits import MemoryStore, RedisStore
from core.testing import TEST_PASSWORD, create_user
from core.users import normalize_username

DEFAULTS = {"security.brute_force.enabled": True, "security.brute_force.max_failures": 10,
            "security.brute_force.window_seconds": 300, "security.brute_force.lockout_seconds": 300}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def make(store=None, **overrides):
    clock = Clock()
    settings = {**DEFAULTS, **overrides}
    store = store or MemoryStore(clock=lambda: clock.now)
    return Lockout(store, settings.__getitem__, clock=clock), clock, store


def test_locks_at_threshold_for_lockout_seconds():
    lockout, clock, _ = make()
    for _ in range(9):
        assert not lockout.record_failure("ann").locked
    state = lockout.record_failure("ann")
    assert state.locked and state.new and state.until == clock.now + 300
    clock.now += 299
    assert lockout.is_locked("ann")
    clock.now += 2
    assert not lockout.is_locked("ann")


def test_failures_while_locked_do_not_extend_and_success_resets():
    lockout, clock, _ = make()
    for _ in range(10):
        lockout.record_failure("bo")
    until = lockout.state("bo").until
    for _ in range(50):
        assert not lockout.record_failure("bo").new
    assert lockout.state("bo").until == until
    clock.now += 301
    for _ in range(5):
        lockout.record_failure("bo")
    lockout.record_success("bo")
    assert lockout.state("bo").failures == 0


def test_repeat_lockouts_double_and_hourly_cap_holds():
    lockout, clock, _ = make(**{"security.brute_force.max_failures": 30,
                                "security.brute_force.lockout_seconds": 60})
    durations, failures_in_hour, start = [], 0, clock.now
    while clock.now - start < 3600:
        if lockout.is_locked("cy"):
            clock.now += 1
            continue
        failures_in_hour += 1
        state = lockout.record_failure("cy")
        if state.new:
            durations.append(state.until - clock.now)
    assert durations[:3] == [60, 120, 240]
    assert failures_in_hour <= HOURLY_CAP


def test_case_and_unicode_forms_share_one_counter():
    lockout, _, _ = make()
    for name in ["Dana", "DANA", "ｄａｎａ", " dana ", "dana"] * 2:
        lockout.record_failure(normalize_username(name))
    assert lockout.is_locked("dana")


def test_disabled_switch_counts_nothing():
    lockout, _, _ = make(**{"security.brute_force.enabled": False})
    for _ in range(20):
        lockout.record_failure("ed")
    assert not lockout.is_locked("ed")


def _parallel_failures(lockout, name, n):
    barrier = threading.Barrier(n)

    def one():
        barrier.wait()
        lockout.record_failure(name)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_twenty_parallel_failures_count_twenty_in_memory():
    lockout, _, _ = make(**{"security.brute_force.max_failures": 50})
    _parallel_failures(lockout, "fay", 20)
    assert lockout.state("fay").failures == 20


@pytest.mark.slow
def test_twenty_parallel_failures_count_twenty_in_redis_and_lock_once(redis_clean):
    lockout, _, _ = make(RedisStore(redis_clean), **{"security.brute_force.max_failures": 50})
    _parallel_failures(lockout, "gus", 20)
    assert lockout.state("gus").failures == 20
    other = Lockout(RedisStore(redis_clean), {**DEFAULTS}.__getitem__)  # a second node, same Redis
    _parallel_failures(other, "hal", 20)
    assert other.is_locked("hal") and lockout.is_locked("hal")


def login(client, username, password):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_locked_wrong_and_unknown_look_the_same(plugdesk_app):
    create_user(plugdesk_app, username="ivan")
    client = plugdesk_app.test_client()
    for _ in range(10):
        assert login(client, "ivan", "wrong password!").status_code == 401
    locked = login(client, "ivan", TEST_PASSWORD)  # right password, but locked
    wrong = login(client, "ivan", "wrong password!")
    unknown = login(client, "nobody-at-all", "wrong password!")
    assert locked.status_code == wrong.status_code == unknown.status_code == 401
    assert locked.get_json() == wrong.get_json() == unknown.get_json()
    st = plugdesk_app.extensions["plugdesk"]
    st.lockout.clear("ivan")
    assert login(client, "ivan", TEST_PASSWORD).status_code == 200


def test_lockout_is_audited_and_listed_for_admins(plugdesk_app, login_as):
    create_user(plugdesk_app, username="jill")
    client = plugdesk_app.test_client()
    for _ in range(10):
        login(client, "jill", "wrong password!")
    admin, _ = login_as(plugdesk_app, "admin")
    page = admin.get("/manage/lockouts").get_data(as_text=True)
    assert "jill" in page and "Lift lock" in page
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    admin.post("/manage/lockouts", data={"csrf_token": token, "account": "jill"})
    assert login(client, "jill", TEST_PASSWORD).status_code == 200
    manager, _ = login_as(plugdesk_app, "manager")
    assert manager.post("/manage/lockouts", data={"account": "jill"}).status_code in (400, 403)


def test_per_address_limit_and_forged_forwarded_for(plugdesk_app_factory):
    app = plugdesk_app_factory(overrides={"server": {"trusted_proxies": 0}})
    app.extensions["plugdesk"].runtime.patch({"security.brute_force.ip_limit": "5 per minute"}, actor="t")
    client = app.test_client()
    codes = [login(client, f"user{i}", "wrong password!").status_code if i % 2 else
             client.post("/api/v1/auth/login", json={"username": f"user{i}", "password": "wrong password!"},
                         headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def test_trusted_proxy_hop_gives_the_client_address(plugdesk_app_factory):
    app = plugdesk_app_factory(overrides={"server": {"trusted_proxies": 1}})
    app.extensions["plugdesk"].runtime.patch({"security.brute_force.ip_limit": "3 per minute"}, actor="t")
    client = app.test_client()
    for i in range(3):  # the client forges a first hop; the proxy appends the real address
        r = client.post("/api/v1/auth/login", json={"username": "x", "password": "wrong password!"},
                        headers={"X-Forwarded-For": f"10.9.9.{i}, 198.51.100.7"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "x", "password": "wrong password!"},
                    headers={"X-Forwarded-For": "10.9.9.99, 198.51.100.7"})
    assert r.status_code == 429
    r = client.post("/api/v1/auth/login", json={"username": "x", "password": "wrong password!"},
                    headers={"X-Forwarded-For": "198.51.100.8"})
    assert r.status_code == 401  # another client is not affected


def test_ip_limit_setting_validated(plugdesk_app):
    from core.runtime_settings import SettingsValidationError

    with pytest.raises(SettingsValidationError):
        plugdesk_app.extensions["plugdesk"].runtime.patch({"security.brute_force.ip_limit": "lots"}, actor="t")


def test_username_and_email_spellings_share_one_counter(plugdesk_app):
    create_user(plugdesk_app, username="kurt")
    client = plugdesk_app.test_client()
    for name in ["kurt", "KURT@example.com", "EXAMPLE\\kurt", "kurt@EXAMPLE.com", "Kurt"] * 2:
        login(client, name, "wrong password!")
    assert login(client, "kurt", TEST_PASSWORD).status_code == 401  # locked after 10 failures in total
