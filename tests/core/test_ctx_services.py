"""The services a policy plugin uses through ``ctx``: departments, set-based ticket operations, mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import DepartmentInfo, PluginContext
from tests.plugins.test_retention_departments import NOW, seed, status_of
from tests.tickets.conftest import PLUGINS, Desk


@pytest.fixture(name="desk")
def desk_fixture(plugdesk_app_factory) -> Desk:
    return Desk(plugdesk_app_factory(PLUGINS))


def ctx_of(desk: Desk) -> PluginContext:
    return desk.state.ctx


def test_departments_are_read_with_their_retention_settings(desk):
    support = desk.department("Support", auto_close_days=10, delete_after_days=30)
    sales = desk.department("Sales")
    ctx = ctx_of(desk)
    assert ctx.departments.get(support) == DepartmentInfo(id=support, name="Support", auto_close_days=10,
                                                          lock_after_days=None, delete_after_days=30)
    assert ctx.departments.get(support).has_retention and not ctx.departments.get(sales).has_retention
    assert [d.name for d in ctx.departments.list()] == ["Support", "Sales"]
    assert [d.id for d in ctx.departments.list(with_retention=True)] == [support]
    assert ctx.departments.get(999_999) is None


def test_close_lock_delete_count_on_dry_run_then_act_once(desk):
    dept = desk.department("Support")
    ctx = ctx_of(desk)
    waiting = seed(desk, dept, 3, status="waiting", agent_days_ago=11)
    closed = seed(desk, dept, 2, status="closed", closed_days_ago=40)
    cutoff = NOW - timedelta(days=10)
    assert ctx.tickets.close_waiting(dept, cutoff, now=NOW, dry_run=True) == 3
    assert all(s == ("waiting", False) for s in status_of(desk, waiting).values())  # the dry run changed nothing
    assert ctx.tickets.close_waiting(dept, cutoff, now=NOW, batch=2, detail={"why": "test"}) == 3
    assert ctx.tickets.close_waiting(dept, cutoff, now=NOW) == 0  # idempotent
    assert ctx.tickets.lock_closed(dept, cutoff, now=NOW, dry_run=True) == 2  # the 3 just closed are too new
    assert ctx.tickets.lock_closed(dept, NOW - timedelta(days=30), now=NOW) == 2
    assert all(status_of(desk, closed)[i] == ("closed", True) for i in closed)
    assert ctx.tickets.delete_closed(dept, NOW - timedelta(days=30), now=NOW) == 2
    assert status_of(desk, closed) == {}
    assert ctx.tickets.delete_closed(dept, NOW + timedelta(days=1), now=NOW, dry_run=True) == 3


def test_operations_refuse_bad_arguments(desk):
    ctx = ctx_of(desk)
    with pytest.raises(ValueError, match="timezone-aware"):
        ctx.tickets.close_waiting(1, datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="batch"):
        ctx.tickets.lock_closed(1, datetime(2020, 1, 1, tzinfo=UTC), batch=0)


def test_mail_goes_through_the_apps_mailer(desk, monkeypatch):
    sent = []
    ctx = ctx_of(desk)
    monkeypatch.setattr(ctx.mailer, "send", lambda to, subject, body, **_: sent.append((to, subject, body)))
    ctx.mail.send("customer@example.org", "Hello", "Body text")
    assert sent == [("customer@example.org", "Hello", "Body text")]
