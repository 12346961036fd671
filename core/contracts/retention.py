"""``RetentionContract``: what every ``retention_sweep`` plugin guarantees.

Subclass it, name the plugin and provide a ``populate`` fixture: ``populate() -> now``, which puts data in the
app's database such that a sweep as of ``now`` (timezone-aware) has something to do::

    from core.testing import RetentionContract

    class TestMyRetention(RetentionContract):
        plugin_name = "my_retention"

        @pytest.fixture
        def populate(self, app):
            def fill():
                ...  # departments and tickets old enough for your rules
                return datetime(2030, 1, 1, tzinfo=UTC)
            return fill

The suite checks that a dry run changes nothing and predicts the real run, that a second run changes
nothing, and that reports are well formed. "Changes nothing" compares every database table except
``ignored_tables``; override :meth:`RetentionContract.snapshot` to compare something else (files, a remote
system).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from core.contracts import PluginUnderTest
from core.types import SweepReport

Populate = Callable[[], datetime]


class RetentionContract(PluginUnderTest):
    """Pytest class suite for retention plugins (not collected itself; subclasses are)."""

    #: tables a sweep may legitimately write to even when it changes nothing (core's own bookkeeping)
    ignored_tables: tuple[str, ...] = ("retention_runs",)

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def populate(self, app: Any) -> Populate:
        """``populate() -> now``: data a sweep as of ``now`` must act on."""
        raise NotImplementedError("subclass RetentionContract and provide a `populate` fixture")

    # ------------------------------------------------------------------ helpers
    def snapshot(self, app: Any) -> dict[str, list[str]]:
        """Every row of every table (as sorted ``repr`` strings), except ``ignored_tables``."""
        from sqlalchemy import inspect, text

        engine = self.state(app).db.engine
        tables = sorted(t for t in inspect(engine).get_table_names() if t not in self.ignored_tables)
        with engine.connect() as conn:
            return {t: sorted(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{t}"')))
                    for t in tables}

    def sweep(self, app: Any, now: datetime, dry_run: bool) -> SweepReport | None:
        """The plugin's own ``retention_sweep``, called as core calls it; checks the report's shape."""
        from core.tickets.info import events_for

        with events_for(self.state(app)):  # what core.retention.run_retention sets up around every sweep
            report = self.call(app, "retention_sweep", now=now, dry_run=dry_run)
        assert report is None or isinstance(report, SweepReport), f"returned {type(report).__name__}"
        if report is not None:
            assert report.dry_run is dry_run, "SweepReport.dry_run must say whether this was a dry run"
            assert isinstance(report.counts, dict)
            for dept, actions in report.counts.items():
                assert isinstance(dept, str) and isinstance(actions, dict)
                assert all(isinstance(a, str) and isinstance(n, int) and n >= 0 for a, n in actions.items())
        return report

    @staticmethod
    def total(report: SweepReport | None) -> int:
        """Sum of every count in a report (0 for ``None``)."""
        return sum(sum(a.values()) for a in report.counts.values()) if report else 0

    @staticmethod
    def nonzero(report: SweepReport | None) -> dict[str, dict[str, int]]:
        """The report's counts without zero entries (to compare a dry run with the real one)."""
        if report is None:
            return {}
        out = {d: {a: n for a, n in acts.items() if n} for d, acts in report.counts.items()}
        return {d: acts for d, acts in out.items() if acts}

    # ------------------------------------------------------------------ the contract
    def test_nothing_to_do_on_an_empty_install(self, app: Any) -> None:
        before = self.snapshot(app)
        now = datetime(2031, 1, 1, tzinfo=UTC)
        assert self.total(self.sweep(app, now, dry_run=True)) == 0
        assert self.total(self.sweep(app, now, dry_run=False)) == 0
        assert self.snapshot(app) == before

    def test_dry_run_changes_nothing(self, app: Any, populate: Populate) -> None:
        now = populate()
        before = self.snapshot(app)
        report = self.sweep(app, now, dry_run=True)
        assert self.total(report) > 0, "populate() must create something the sweep acts on"
        assert self.snapshot(app) == before, "a dry run changed the database"

    def test_dry_run_predicts_the_real_run(self, app: Any, populate: Populate) -> None:
        now = populate()
        predicted = self.sweep(app, now, dry_run=True)
        before = self.snapshot(app)
        done = self.sweep(app, now, dry_run=False)
        assert self.nonzero(done) == self.nonzero(predicted)
        assert self.snapshot(app) != before, "the real run reported work but changed nothing"

    def test_second_run_changes_nothing(self, app: Any, populate: Populate) -> None:
        now = populate()
        first = self.sweep(app, now, dry_run=False)
        assert self.total(first) > 0
        after_first = self.snapshot(app)
        assert self.total(self.sweep(app, now, dry_run=False)) == 0, "a second run at the same moment did work"
        assert self.snapshot(app) == after_first
        assert self.total(self.sweep(app, now, dry_run=True)) == 0

    def test_runs_through_core_under_the_lock(self, app: Any, populate: Populate) -> None:
        from core.retention import run_retention

        now = populate()
        with app.app_context():
            result = run_retention(self.state(app), now)
        assert not result.skipped
        ours = [r for r in result.reports if r.plugin == self.plugin_name]
        assert ours and self.total(ours[0]) > 0, "core's run did not include this plugin's report"
