"""retention_departments: close -> lock -> delete per department, idempotent, batched, audited, interruptible."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core import hookimpl
from core.cli import main
from core.models import AuditEntry
from core.retention import RetentionRun, cluster_lock, parse_now, run_retention
from core.tickets.models import Ticket, TicketEvent, TicketMessage
from tests.tickets.conftest import PLUGINS, Desk

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(name="desk")
def desk_fixture(plugdesk_app_factory) -> Desk:
    """An app with tickets, retention_departments and notify_email."""
    return Desk(plugdesk_app_factory(PLUGINS))


def seed(desk: Desk, dept: int, n: int, *, status: str, agent_days_ago: float | None = None,
         closed_days_ago: float | None = None, locked: bool = False) -> list[int]:
    """Tickets in a given state relative to NOW (test data set up directly in the database)."""
    with desk.state.db.session() as s:
        rows = [Ticket(subject=f"t{i}", department_id=dept, status=status, locked=locked, guest_email="g@example.org",
                       created_at=NOW - timedelta(days=400), updated_at=NOW - timedelta(days=400),
                       last_agent_reply_at=NOW - timedelta(days=agent_days_ago) if agent_days_ago is not None else None,
                       closed_at=NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None)
                for i in range(n)]
        s.add_all(rows)
        s.flush()
        s.add_all(TicketMessage(ticket_id=t.id, body="hello", author_name="g") for t in rows)
        return [t.id for t in rows]


def counts(result):
    return result.counts()


def status_of(desk, ids):
    with desk.state.db.session() as s:
        return {t.id: (t.status, t.locked) for t in s.scalars(select(Ticket).where(Ticket.id.in_(ids)))}


def test_close_lock_delete_each_switch(desk):
    d = desk.department("Support", auto_close_days=10, lock_after_days=5, delete_after_days=30)
    off = desk.department("Sales")  # no switch: never touched
    old_waiting = seed(desk, d, 3, status="waiting", agent_days_ago=11)
    fresh_waiting = seed(desk, d, 2, status="waiting", agent_days_ago=9)
    open_old = seed(desk, d, 1, status="open", agent_days_ago=50)  # the customer spoke last: never auto-closed
    to_lock = seed(desk, d, 2, status="closed", closed_days_ago=6)
    to_delete = seed(desk, d, 2, status="closed", closed_days_ago=31, locked=True)
    untouched = seed(desk, off, 2, status="waiting", agent_days_ago=999)
    result = run_retention(desk.state, NOW)
    assert counts(result) == {"Support": {"closed": 3, "locked": 2, "deleted": 2}}
    st = status_of(desk, old_waiting + fresh_waiting + open_old + to_lock + to_delete + untouched)
    assert all(st[i] == ("closed", False) for i in old_waiting)
    assert all(st[i] == ("waiting", False) for i in fresh_waiting + untouched)
    assert st[open_old[0]] == ("open", False)
    assert all(st[i] == ("closed", True) for i in to_lock)
    assert not any(i in st for i in to_delete)
    with desk.state.db.session() as s:
        left = select(func.count()).select_from(TicketMessage).where(TicketMessage.ticket_id.in_(to_delete))
        assert s.scalar(left) == 0
        closed_at = {t.closed_at for t in s.scalars(select(Ticket).where(Ticket.id.in_(old_waiting)))}
        assert closed_at == {NOW}
        events = s.execute(select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.actor)).all()
        assert sorted((e.ticket_id, e.kind) for e in events) == sorted(
            [(i, "auto_closed") for i in old_waiting] + [(i, "locked") for i in to_lock])
        audit = s.execute(select(AuditEntry.action, AuditEntry.target, AuditEntry.new)).all()
        by_action = {}
        for a in audit:
            by_action.setdefault(a.action, set()).add(a.target)
        assert by_action["ticket.retention_close"] == {f"ticket:{i}" for i in old_waiting}
        assert by_action["ticket.retention_lock"] == {f"ticket:{i}" for i in to_lock}
        assert by_action["ticket.retention_delete"] == {f"ticket:{i}" for i in to_delete}
        assert all(a.new["rule"] and a.new["days"] for a in audit if a.action.startswith("ticket.retention"))
    # idempotent: the same moment again changes nothing
    assert counts(run_retention(desk.state, NOW)) == {"Support": {"closed": 0, "locked": 0, "deleted": 0}}
    # closed by the sweep at NOW: locked 5 days later, deleted 30 days later
    assert counts(run_retention(desk.state, NOW + timedelta(days=5, seconds=1)))["Support"]["locked"] == 3
    assert counts(run_retention(desk.state, NOW + timedelta(days=30, seconds=1)))["Support"]["deleted"] == 5


def test_lock_without_close_locks_tickets_closed_by_hand(desk):
    d = desk.department("Support", lock_after_days=7)
    by_hand = seed(desk, d, 2, status="closed", closed_days_ago=8)
    waiting = seed(desk, d, 1, status="waiting", agent_days_ago=400)
    assert counts(run_retention(desk.state, NOW)) == {"Support": {"closed": 0, "locked": 2, "deleted": 0}}
    assert status_of(desk, by_hand + waiting) == {by_hand[0]: ("closed", True), by_hand[1]: ("closed", True),
                                                 waiting[0]: ("waiting", False)}


def test_dry_run_reports_and_changes_nothing(desk):
    d = desk.department("Support", auto_close_days=1, lock_after_days=1, delete_after_days=2)
    ids = seed(desk, d, 4, status="waiting", agent_days_ago=3) + seed(desk, d, 1, status="closed", closed_days_ago=3)
    result = run_retention(desk.state, NOW, dry_run=True)
    assert counts(result) == {"Support": {"closed": 4, "locked": 1, "deleted": 1}} and result.dry_run
    assert sorted(v for v in status_of(desk, ids).values()) == [("closed", False)] + [("waiting", False)] * 4
    with desk.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == 0
        assert s.scalar(select(RetentionRun.dry_run)) is True


class Crash(BaseException):
    """Stands in for the process being killed mid-sweep."""


class CrashAfterFirstBatch:
    def __init__(self) -> None:
        self.armed = True

    @hookimpl
    def ticket_closed(self, ticket, actor):
        if self.armed:
            self.armed = False
            raise Crash("killed")


def test_interrupted_sweep_is_completed_by_rerun_without_doing_anything_twice(plugdesk_app_factory):
    crash = CrashAfterFirstBatch()
    desk = Desk(plugdesk_app_factory(PLUGINS, extra={"crash": crash},
                                     overrides={"plugins": {"retention_departments": {"batch_size": 3}}}))
    d = desk.department("Support", auto_close_days=1)
    ids = seed(desk, d, 10, status="waiting", agent_days_ago=2)
    with pytest.raises(Crash):
        run_retention(desk.state, NOW)
    done = [i for i, (status, _) in status_of(desk, ids).items() if status == "closed"]
    assert len(done) == 3  # the first batch was committed, nothing after it
    with desk.state.db.session() as s:
        assert s.scalars(select(RetentionRun.status)).all() == ["failed"]
    result = run_retention(desk.state, NOW)
    assert counts(result)["Support"]["closed"] == 7
    with desk.state.db.session() as s:
        events = s.execute(select(TicketEvent.ticket_id, func.count()).group_by(TicketEvent.ticket_id)).all()
        assert sorted(events) == [(i, 1) for i in sorted(ids)]
        audit = s.scalar(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "ticket.retention_close"))
        assert audit == 10


def test_lock_held_elsewhere_skips(desk):
    desk.department("Support", auto_close_days=1)
    with cluster_lock(desk.state.db) as got:
        assert got
        result = run_retention(desk.state, NOW)
    assert result.skipped and "lock" in result.skipped and result.reports == []
    assert run_retention(desk.state, NOW).skipped == ""


def test_parse_now():
    assert parse_now("2027-01-02") == datetime(2027, 1, 2, tzinfo=UTC)
    assert parse_now("2027-01-02T03:04:05Z") == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_now("2027-01-02T05:04:05+02:00") == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("tomorrow", "2027-13-01", "", "2027/01/02"):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_now(bad)


@pytest.fixture
def cli_desk(tmp_path):
    """A config file and a database with the schema, for ``plugdesk retention run`` in-process."""
    from core.testing import make_test_app

    app = make_test_app(tmp_path / "site", PLUGINS)
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "site"}"\nsecret_key = "k"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "site" / "plugdesk.db"}"\n'
                      f'[plugins]\nenabled = {json.dumps(PLUGINS)}\n')
    return Desk(app), str(config)


def test_cli_run_text_json_dry_run_and_bad_now(cli_desk):
    desk, config = cli_desk
    d = desk.department("Support", auto_close_days=14)
    seed(desk, d, 2, status="waiting", agent_days_ago=0)
    runner = CliRunner()
    r = runner.invoke(main, ["--config", config, "retention", "run", "--now", "next tuesday"])
    assert r.exit_code != 0 and "is not an ISO 8601 date" in r.output and r.output.count("\n") == 1
    later = (NOW + timedelta(days=15)).isoformat()
    r = runner.invoke(main, ["--config", config, "retention", "run", "--now", later, "--dry-run"])
    assert r.exit_code == 0 and "would change (dry run)" in r.output and "Support: closed 2" in r.output
    r = runner.invoke(main, ["--config", config, "retention", "run", "--now", later, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["departments"] == {"Support": {"closed": 2, "locked": 0, "deleted": 0}} and doc["skipped"] is None
    r = runner.invoke(main, ["--config", config, "retention", "run", "--now", later])
    assert r.exit_code == 0 and "Support: closed 0, locked 0, deleted 0" in r.output
