"""Two nodes (two apps on one database and one real Redis): wrong TOTP codes sent to either node lock the
account on both, and a code accepted by one node is refused by the other."""

from __future__ import annotations

import pytest

from core.app_state import state
from core.testing import TEST_PASSWORD, create_user, make_test_app
from tests.core.test_twofactor import SECOND_FACTOR, Clock, api_login, code, enrol_api

pytestmark = pytest.mark.slow


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def nodes(tmp_path, redis_clean):
    shared = {"database": {"url": f"sqlite:///{tmp_path / 'shared.db'}"}, "limits": {"storage": redis_clean}}
    return make_test_app(tmp_path / "node1", ["auth_local"], overrides=shared), \
        make_test_app(tmp_path / "node2", ["auth_local"], overrides=shared)


def test_wrong_codes_on_two_nodes_lock_the_account_on_both(nodes, clock):
    one, two = nodes
    user = create_user(one, username="nils")
    secret, _codes = enrol_api(one, user)
    state(one).runtime.patch({"security.brute_force.max_failures": 4}, actor="t")
    state(two).runtime.invalidate()
    clock.step()
    for node, wrong in ((one, "000001"), (two, "000002"), (one, "000003")):
        assert api_login(node, "nils", totp=wrong).status_code == 401
    assert api_login(two, "nils").get_json()["type"] == SECOND_FACTOR  # right password: count not reset
    assert api_login(two, "nils", totp="000004").status_code == 401  # fourth failure, on node 2: locked
    for node in (one, two):
        r = api_login(node, "nils", password=TEST_PASSWORD, totp=code(secret))
        assert r.status_code == 401 and r.get_json()["title"] == "Login failed"
    state(one).lockout.clear("nils")
    good = code(secret)
    assert api_login(one, "nils", totp=good).status_code == 200
    assert api_login(two, "nils", totp=good).status_code == 401  # replay on the other node: refused
