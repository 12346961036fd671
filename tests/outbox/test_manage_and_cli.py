"""Management › Mail (retry / discard with CSRF, audited), the dashboard banner, Background jobs, the
``plugdesk mail outbox`` and ``plugdesk worker --once`` commands, and the scheduler's one-run-per-interval."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from core.cli import main
from core.models import AuditEntry, utcnow
from core.outbox.models import OutboxMessage
from core.worker.models import JobRun
from core.worker.scheduler import Job, run_due
from tests.outbox.conftest import smtp_url
from tests.realservers import free_port


def csrf(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def failing_app(factory):
    """An app whose mail server is gone, with one failed (550) and one waiting message."""
    app = factory(["auth_local"], overrides={"mail": {"url": f"smtp://127.0.0.1:{free_port()}"}})
    st = app.extensions["plugdesk"]
    st.ctx.mail.send("ann@example.com", "Waiting", "Body")
    st.ctx.mail.send("bob@example.com", "Refused", "Body")
    with st.db.session() as s:
        s.execute(OutboxMessage.__table__.update().where(OutboxMessage.to_addr == "bob@example.com")
                  .values(state="failed", last_error="recipient refused: 550 5.1.1 No such user"))
    return app, st


def test_mail_page_lists_reasons_and_retry_discard_need_csrf_and_are_audited(plugdesk_app_factory, login_as):
    app, st = failing_app(plugdesk_app_factory)
    client, manager = login_as(app, "manager")
    page = client.get("/manage/mail").get_data(as_text=True)
    assert "550 5.1.1 No such user" in page and "Waiting" in page and "Refused" in page
    failed_id = str(next(r.id for r in _rows(st) if r.state == "failed"))
    assert client.post("/manage/mail", data={"action": "retry", "id": failed_id}).status_code == 400  # no CSRF
    r = client.post("/manage/mail", data={"csrf_token": csrf(page), "action": "retry", "id": failed_id})
    assert r.status_code == 302
    assert {r.state for r in _rows(st)} == {"queued"}
    r = client.post("/manage/mail", data={"csrf_token": csrf(page), "action": "discard", "id": failed_id},
                    follow_redirects=True)
    assert f"Message {failed_id} discarded." in r.get_data(as_text=True)
    r = client.post("/manage/mail", data={"csrf_token": csrf(page), "action": "discard", "id": failed_id},
                    follow_redirects=True)
    assert "no failed or queued message" in r.get_data(as_text=True)
    with st.db.session() as s:
        audit = [(a.action, a.actor, a.target) for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("mail.%")).order_by(AuditEntry.id))]
    assert audit == [("mail.retry", manager.username, f"mail:{failed_id}"),
                     ("mail.discard", manager.username, f"mail:{failed_id}")]
    assert client.get(f"/manage/mail/{failed_id}").status_code == 200
    agent, _ = login_as(app, "agent")
    assert agent.get("/manage/mail").status_code == 403


def test_dashboard_banner_when_messages_failed(plugdesk_app_factory, login_as):
    app, st = failing_app(plugdesk_app_factory)
    manager, _ = login_as(app, "manager")
    assert "1 email message could not be delivered" in manager.get("/manage/").get_data(as_text=True)
    agent, _ = login_as(app, "agent")
    assert "could not be delivered" not in agent.get("/manage/").get_data(as_text=True)
    page = manager.get("/manage/mail").get_data(as_text=True)
    manager.post("/manage/mail", data={"csrf_token": csrf(page), "action": "retry_all"})
    assert "could not be delivered" not in manager.get("/manage/").get_data(as_text=True)


def _rows(st):
    with st.db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_scheduler_runs_each_job_once_per_interval_and_records_it(plugdesk_app_factory, login_as):
    app = plugdesk_app_factory(["auth_local", "storage_fs", "retention_departments"],
                               overrides={"retention": {"interval_minutes": 60}})
    st = app.extensions["plugdesk"]
    calls: list[str] = []
    boom = Job("test.boom", "Boom", lambda _st: 60.0, lambda _st: (_ for _ in ()).throw(RuntimeError("kaput")))
    ok = Job("test.ok", "OK", lambda _st: 60.0, lambda _st: calls.append("ok") or "fine")
    now = utcnow()
    assert [(n, s) for n, s, _ in run_due(st, "node-a", now, [ok, boom])] == [("test.ok", "done"),
                                                                            ("test.boom", "failed")]
    assert run_due(st, "node-b", now + timedelta(seconds=30), [ok, boom]) == []  # another node, same interval
    assert [n for n, _s, _m in run_due(st, "node-b", now + timedelta(seconds=61), [ok])] == ["test.ok"]
    assert calls == ["ok", "ok"]
    with st.db.session() as s:
        boom_row = s.get(JobRun, "test.boom")
        assert boom_row.status == "failed" and "kaput" in boom_row.summary and boom_row.node == "node-a"
    results = {n: s for n, s, _m in run_due(st, "node-a")}  # the built-in jobs
    assert results == {"retention": "done", "storage.gc": "done", "mail.cleanup": "done"}
    client, _ = login_as(app, "manager")
    page = client.get("/manage/jobs").get_data(as_text=True)
    assert "Retention" in page and "Storage garbage collection" in page and "No worker has reported" in page


def test_cli_outbox_list_retry_and_worker_once(tmp_path, smtp_server):
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("admin password for tests\n")
    assert runner.invoke(main, ["init", "--data-dir", str(tmp_path / "d"), "--admin-password-file",
                                str(pw)]).exit_code == 0
    config = tmp_path / "d" / "plugdesk.toml"
    dead = f"smtp://127.0.0.1:{free_port()}"
    config.write_text(config.read_text() + f'\n[mail]\nurl = "{dead}"\n')

    def run(*args):
        return runner.invoke(main, ["--config", str(config), *args])

    from core.app import create_app

    st = create_app(str(config)).extensions["plugdesk"]
    for i in range(3):
        st.ctx.mail.send(f"c{i}@example.com", f"Hello {i}", "Body")
    out = json.loads(run("worker", "--once", "--json").output)
    assert out["retrying"] == 3 and {j["name"] for j in out["jobs"]} == {"mail.cleanup", "storage.gc"}
    with st.db.session() as s:
        s.execute(OutboxMessage.__table__.update().values(state="failed", last_error="gave up"))
    listed = json.loads(run("mail", "outbox", "list", "--json").output)
    assert listed["counts"]["failed"] == 3 and [i["state"] for i in listed["items"]] == ["failed"] * 3
    first = listed["items"][-1]["id"]
    assert "gave up" in run("mail", "outbox", "list").output
    r = run("mail", "outbox", "retry", str(first))
    assert r.exit_code == 0 and "queued 1 message" in r.output
    r = run("mail", "outbox", "retry", "99999")
    assert r.exit_code == 1 and "no failed or queued message with id 99999" in r.output
    r = run("mail", "outbox", "retry")
    assert r.exit_code == 1 and "give a message ID or --all-failed" in r.output
    assert "queued 2 message" in run("mail", "outbox", "retry", "--all-failed").output
    sink = smtp_server()
    config.write_text(config.read_text().replace(dead, smtp_url(sink)))
    out = json.loads(run("worker", "--once", "--json").output)
    assert out["sent"] == 3 and len(sink.messages) == 3
    assert run("mail", "outbox", "discard", str(first)).exit_code == 1  # sent: nothing to discard
    assert json.loads(run("mail", "outbox", "list", "--json", "--state", "sent").output)["counts"]["sent_last_7d"] == 3
