"""What the outbox promises around it: nothing but the worker's transport talks SMTP, ``ctx.mail.send`` raises
``core.MailError`` only when it cannot queue, and the periodic jobs all live on the worker's scheduler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

from core import MailError
from core.worker.scheduler import all_jobs

ROOT = Path(__file__).resolve().parents[2]
SMTP_USE = re.compile(r"\bimport smtplib\b|\bfrom smtplib\b|\.send_message\(|\.sendmail\(")


def test_nothing_outside_the_outbox_transport_talks_smtp():
    offenders = [str(path.relative_to(ROOT)) for top in ("core", "plugins") for path in (ROOT / top).rglob("*.py")
                 if SMTP_USE.search(path.read_text(encoding="utf-8"))]
    assert offenders == ["core/outbox/transport.py"], offenders


def test_mail_send_raises_mail_error_only_when_the_row_cannot_be_written(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"])
    st = app.extensions["plugdesk"]
    st.ctx.mail.send("ann@example.com", "Queued", "A mail server is not needed to queue this.")
    with st.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE mail_outbox RENAME TO mail_outbox_gone"))
    with pytest.raises(MailError, match="could not be queued"):
        st.ctx.mail.send("ann@example.com", "Lost", "The outbox table is gone.")


def test_periodic_jobs_run_on_the_worker_scheduler():
    names = {job.name for job in all_jobs()}
    assert {"retention", "storage.gc", "mail.cleanup", "backup"} <= names


def test_ticket_subjects_are_kept_on_one_line_at_input(plugdesk_app_factory):
    from tests.tickets.conftest import PLUGINS, Desk

    desk = Desk(plugdesk_app_factory(PLUGINS))
    cust = desk.user()
    dept = desk.department("Support")
    api = desk.api(cust)
    r = api("POST", "/api/v1/tickets", json={"subject": "Invoice\r\nBcc: victim@example.org\u2028x\x00",
                                              "department_id": dept, "body": "B"})
    assert r.status_code == 201 and r.get_json()["subject"] == "Invoice Bcc: victim@example.org x"
    r = api("POST", "/api/v1/tickets", json={"subject": "\r\n\t", "department_id": dept, "body": "B"})
    assert r.status_code == 422


def test_reset_links_per_account_are_capped_at_send_time_not_in_the_request(plugdesk_app_factory):
    from core.auth.reset import RESET_MAILS_PER_HOUR
    from core.testing import create_user, deliver_mail

    app = plugdesk_app_factory(["auth_local"])
    create_user(app, username="target")
    client = app.test_client()
    for i in range(RESET_MAILS_PER_HOUR + 3):  # many addresses: below each address's own limit
        r = client.post("/api/v1/auth/password-reset", json={"login": "target"},
                        environ_base={"REMOTE_ADDR": f"10.9.0.{i + 1}"})
        assert r.status_code == 202
    report = deliver_mail(app)
    assert (report.sent, report.dropped) == (RESET_MAILS_PER_HOUR, 3)
