"""Notifications about a ticket message record that message (``mail_outbox.ticket_message_id``), whether the
plugin names it or not, and Management › Mail shows it with a link to the message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import hookimpl
from core.outbox.models import OutboxMessage
from tests.tickets.conftest import PLUGINS, Desk


class Bystander:
    """A third-party notifier that does not know about ``ticket_message_id``."""

    @hookimpl
    def ticket_replied(self, ticket: Any, message: Any, ctx: Any) -> None:
        ctx.mail.send("watcher@example.com", "Activity", "x", ticket_id=ticket.id)
        ctx.mail.send("other@example.com", "Not about this ticket", "x", ticket_id=ticket.id + 1000)
        ctx.mail.send("plain@example.com", "No ticket at all", "x")


def _rows(desk: Desk) -> dict[str, OutboxMessage]:
    with desk.state.db.session() as s:
        return {r.to_addr: r for r in s.scalars(select(OutboxMessage))}


def test_reply_notifications_name_the_reply_and_the_mail_page_shows_it(plugdesk_app_factory, login_as) -> None:
    app = plugdesk_app_factory(PLUGINS, overrides={"server": {"base_url": "https://help.example.com"}})
    app.extensions["plugdesk"].host.pm.register(Bystander(), "bystander")
    desk = Desk(app)
    cust, agent = desk.user(), desk.user("agent")
    dept = desk.department("Support", [agent])
    tid = desk.api(cust)("POST", "/api/v1/tickets", json={"subject": "S", "department_id": dept,
                                                          "body": "B"}).get_json()["id"]
    answer = desk.api(agent)("POST", f"/api/v1/tickets/{tid}/messages", json={"body": "answer"})
    assert answer.status_code == 201
    reply_id = answer.get_json()["messages"][-1]["id"]
    rows = _rows(desk)
    customer_row = rows[f"{cust.username}@example.com"]  # notify_email names the message itself
    assert (customer_row.ticket_id, customer_row.ticket_message_id) == (tid, reply_id)
    assert (rows["watcher@example.com"].ticket_id, rows["watcher@example.com"].ticket_message_id) == (tid, reply_id)
    assert rows["other@example.com"].ticket_message_id is None  # another ticket: not this event's message
    assert rows["plain@example.com"].ticket_message_id is None
    assert not [r for r in rows.values() if r.kind == "verify_email" and r.ticket_message_id is not None]

    client, _manager = login_as(app, "manager")
    page = client.get(f"/manage/mail/{customer_row.id}").get_data(as_text=True)
    assert "Ticket message" in page and f'href="/manage/tickets/{tid}#m{reply_id}"' in page
    plain = client.get(f"/manage/mail/{rows['plain@example.com'].id}").get_data(as_text=True)
    assert "Ticket message" not in plain
