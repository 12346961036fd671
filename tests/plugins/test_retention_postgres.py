"""Retention on PostgreSQL: the migration applies, two concurrent `plugdesk retention run` processes act once."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.app import create_app
from core.migrate import upgrade
from core.models import AuditEntry
from core.retention import cluster_lock
from core.settings import load_settings
from core.tickets.models import Ticket, TicketEvent
from tests.conftest import plugdesk_cmd
from tests.plugins.test_retention_departments import seed
from tests.tickets.conftest import PLUGINS, Desk

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_desk(postgres_url, tmp_path):
    upgrade(postgres_url)  # every migration, on PostgreSQL
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\nsecret_key = "k"\n[database]\nurl = "{postgres_url}"\n'
                      f'[plugins]\nenabled = {json.dumps(PLUGINS)}\n'
                      '[plugins.retention_departments]\nbatch_size = 200\n')
    app = create_app(load_settings(config, environ={}))
    desk = Desk(app)
    yield desk, config
    desk.state.db.dispose()


def _run(config, *args):
    return subprocess.Popen(plugdesk_cmd("--config", str(config), "retention", "run", "--json",
                                         "--now", (NOW + timedelta(days=1)).isoformat(), *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_concurrent_processes_act_once(pg_desk):
    desk, config = pg_desk
    d = desk.department("Support", auto_close_days=1)
    ids = seed(desk, d, 3000, status="waiting", agent_days_ago=1)
    procs = [_run(config), _run(config)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        outs.append(json.loads(out))
    closed = [o["departments"].get("Support", {}).get("closed", 0) for o in outs]
    assert sum(closed) == len(ids), outs
    with desk.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket).where(Ticket.status == "closed")) == 3000
        per_ticket = s.execute(select(TicketEvent.ticket_id, func.count()).group_by(TicketEvent.ticket_id)
                               .having(func.count() != 1)).all()
        assert per_ticket == []
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "ticket.retention_close")) == 3000


def test_advisory_lock_elects_one_runner_across_processes(pg_desk):
    desk, config = pg_desk
    d = desk.department("Support", auto_close_days=1)
    seed(desk, d, 5, status="waiting", agent_days_ago=1)
    with cluster_lock(desk.state.db) as got:
        assert got
        out, _ = _run(config).communicate(timeout=60)
        assert "cluster lock is held" in json.loads(out)["skipped"]
        waiting = _run(config, "--wait")
        time.sleep(1.5)
        assert waiting.poll() is None  # blocked on the lock
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err.decode()
    assert json.loads(out)["departments"]["Support"]["closed"] == 5
