"""My tickets and the agent queue through their precompiled reads (core.tickets.lists), on SQLite and
PostgreSQL: what a row shows (names, labels, dates formatted by the database), visibility, filters, counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask

from core.tickets.models import Ticket
from tests.tickets.conftest import PLUGINS, Desk

WHEN = datetime(2026, 3, 4, 5, 6, 59, 123456, tzinfo=UTC)


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", row).strip() for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def check_lists(desk: Desk) -> None:
    """The two list pages, end to end, for a customer, an agent of one department and a manager."""
    customer, agent, manager = desk.user("user"), desk.user("agent"), desk.user("manager")
    mine, other = desk.department("Billing <&>", [agent]), desk.department("Other", [])
    with desk.state.db.session() as s:
        rows = [Ticket(subject="Refund <now>", department_id=mine, customer_id=customer.id, status="waiting",
                       locked=True, assignee_id=agent.id, updated_at=WHEN, created_at=WHEN),
                Ticket(subject="Guest question", department_id=mine, guest_email="g@example.org", status="open",
                       updated_at=WHEN, created_at=WHEN),
                Ticket(subject="Elsewhere", department_id=other, customer_id=customer.id, status="closed",
                       updated_at=WHEN, created_at=WHEN)]
        s.add_all(rows)
        s.flush()
        refund, guest, elsewhere = (t.id for t in rows)

    page = desk.client(customer).get("/tickets").get_data(as_text=True)
    assert _rows(page) == [
        f'<td>{refund}</td> <td><a href="/tickets/{refund}">Refund &lt;now&gt;</a></td> <td>Billing &lt;&amp;&gt;</td> '
        '<td><span class="badge ok">Answered</span> <span class="badge">Locked</span></td> <td>2026-03-04 05:06</td>',
        f'<td>{elsewhere}</td> <td><a href="/tickets/{elsewhere}">Elsewhere</a></td> <td>Other</td> '
        '<td><span class="badge">Closed</span></td> <td>2026-03-04 05:06</td>']
    assert "You have no tickets yet." in desk.client(agent).get("/tickets").get_data(as_text=True)

    agent_client = desk.client(agent)
    page = agent_client.get("/manage/tickets?status=all").get_data(as_text=True)
    assert _rows(page) == [
        f'<td>{guest}</td> <td><a href="/manage/tickets/{guest}">Guest question</a></td> '
        '<td>g@example.org <span class="muted">(guest)</span></td> <td>Billing &lt;&amp;&gt;</td> '
        '<td><span class="badge ok">open</span></td> <td>—</td> <td>2026-03-04 05:06</td>',
        f'<td>{refund}</td> <td><a href="/manage/tickets/{refund}">Refund &lt;now&gt;</a></td> '
        f'<td>{customer.username}</td> <td>Billing &lt;&amp;&gt;</td> <td><span class="badge">waiting</span> '
        f'<span class="badge">locked</span></td> <td>{agent.username}</td> <td>2026-03-04 05:06</td>']
    assert "Open (1)" in page and "Waiting for customer (1)" in page and "Closed (0)" in page
    # another department's ticket stays invisible to the agent, whatever the filters say
    assert f"/manage/tickets/{elsewhere}" not in agent_client.get(f"/manage/tickets?status=all&department={other}"
                                                                  f"&q=%23{elsewhere}").get_data(as_text=True)
    found = _rows(agent_client.get(f"/manage/tickets?status=all&q=%23{refund}").get_data(as_text=True))
    assert len(found) == 1 and f">{refund}<" in found[0]
    assert len(_rows(agent_client.get("/manage/tickets?status=all&q=GUEST").get_data(as_text=True))) == 1
    mine_only = agent_client.get("/manage/tickets?mine=1&sort=created").get_data(as_text=True)
    assert "No open tickets match: showing Waiting for customer." in mine_only  # landed on a useful tab
    assert [r.split("</td>")[0] for r in _rows(mine_only)] == [f"<td>{refund}"]

    boss = desk.client(manager)
    every = boss.get("/manage/tickets?status=all&sort=id").get_data(as_text=True)
    assert [r.split("</td>")[0] for r in _rows(every)] == [f"<td>{i}" for i in sorted((refund, guest, elsewhere),
                                                                                         reverse=True)]
    assert "Closed (1)" in every
    one = boss.get(f"/manage/tickets?status=closed&department={other}").get_data(as_text=True)
    assert [r.split("</td>")[0] for r in _rows(one)] == [f"<td>{elsewhere}"]
    assert "No tickets in this queue." in boss.get("/manage/tickets?status=all&page=2").get_data(as_text=True)


def test_lists(desk: Desk) -> None:
    check_lists(desk)


@pytest.mark.slow
@pytest.mark.postgres
def test_lists_postgresql(plugdesk_app_factory: Callable[..., Flask], postgres_url: str) -> None:
    app = plugdesk_app_factory(PLUGINS, overrides={"database": {"url": postgres_url}})
    check_lists(Desk(app))
