"""My tickets and the agent queue through their precompiled reads (core.tickets.lists), on SQLite and
PostgreSQL: what a row shows (names, labels, dates formatted by the database), visibility, filters, counts, and
that every user-controlled value is escaped (the rows are rendered with autoescape off and ``|e`` per user value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from flask import Flask

from core.models import User
from core.tickets.models import Ticket
from tests.tickets.conftest import PLUGINS, Desk

WHEN = datetime(2026, 3, 4, 5, 6, 59, 123456, tzinfo=UTC)
#: In every user-controlled column (subject, customer, assignee, department, guest email, the search echo)
EVIL = "<script>\"x'&amp;"
SAFE = "&lt;script&gt;&#34;x&#39;&amp;amp;"


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", row).strip() for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _unescaped(html: str) -> bool:
    return "<script>" in html or 'x\'&amp;' in html or '"x' in html


def check_lists(desk: Desk) -> None:
    """The two list pages, end to end, for a customer, an agent of one department and a manager."""
    customer, agent, manager = desk.user("user"), desk.user("agent"), desk.user("manager")
    mine, other = desk.department(f"Billing {EVIL}", [agent]), desk.department("Other", [])
    with desk.state.db.session() as s:
        for who in (customer, agent):  # names a user chose (the forms would refuse these; the page must not care)
            s.get(User, who.id).username = f"{who.username}{EVIL}"
        rows = [Ticket(subject=f"Refund {EVIL}", department_id=mine, customer_id=customer.id, status="waiting",
                       locked=True, assignee_id=agent.id, updated_at=WHEN, created_at=WHEN),
                Ticket(subject="Guest question", department_id=mine, guest_email=f"g{EVIL}@example.org",
                       status="open", updated_at=WHEN, created_at=WHEN),
                Ticket(subject="Elsewhere", department_id=other, customer_id=customer.id, status="closed",
                       updated_at=WHEN, created_at=WHEN)]
        s.add_all(rows)
        s.flush()
        refund, guest, elsewhere = (t.id for t in rows)

    page = desk.client(customer).get("/tickets").get_data(as_text=True)
    assert not _unescaped(page)
    assert _rows(page) == [
        f'<td>{refund}</td> <td><a href="/tickets/{refund}">Refund {SAFE}</a></td> <td>Billing {SAFE}</td> '
        '<td><span class="badge ok">Answered</span> <span class="badge">Locked</span></td> <td>2026-03-04 05:06</td>',
        f'<td>{elsewhere}</td> <td><a href="/tickets/{elsewhere}">Elsewhere</a></td> <td>Other</td> '
        '<td><span class="badge">Closed</span></td> <td>2026-03-04 05:06</td>']
    assert "You have no tickets yet." in desk.client(agent).get("/tickets").get_data(as_text=True)

    agent_client = desk.client(agent)
    page = agent_client.get("/manage/tickets?status=all").get_data(as_text=True)
    assert not _unescaped(page)
    assert _rows(page) == [
        f'<td>{guest}</td> <td><a href="/manage/tickets/{guest}">Guest question</a></td> '
        f'<td>g{SAFE}@example.org <span class="muted">(guest)</span></td> <td>Billing {SAFE}</td> '
        '<td><span class="badge ok">open</span></td> <td>—</td> <td>2026-03-04 05:06</td>',
        f'<td>{refund}</td> <td><a href="/manage/tickets/{refund}">Refund {SAFE}</a></td> '
        f'<td>{customer.username}{SAFE}</td> <td>Billing {SAFE}</td> <td><span class="badge">waiting</span> '
        f'<span class="badge">locked</span></td> <td>{agent.username}{SAFE}</td> <td>2026-03-04 05:06</td>']
    assert f'<option value="{mine}" >Billing {SAFE}</option>' in page
    echo = agent_client.get("/manage/tickets?status=all&q=" + quote(EVIL)).get_data(as_text=True)
    assert f'name="q" value="{SAFE}"' in echo and "&amp;q=%3Cscript%3E%22x&#39;%26amp;&amp;sort=" in echo
    assert not _unescaped(echo)
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


def test_queue_counts_with_and_without_a_count_statement(desk: Desk) -> None:
    """The "All" tab on a first page that is not full counts its own rows; a full page (or another tab) asks the
    database: the tabs say the same either way."""
    agent = desk.user("agent")
    dept = desk.department("Support", [agent])
    statuses = ["open"] * 150 + ["waiting"] * 40 + ["closed"] * 20  # 210: more than a page (200)
    with desk.state.db.session() as s:
        s.add_all(Ticket(subject=f"T{i}", department_id=dept, guest_email="g@example.org", status=status,
                         assignee_id=agent.id if i % 7 == 0 else None, updated_at=WHEN, created_at=WHEN)
                  for i, status in enumerate(statuses))
    client = desk.client(agent)
    tabs = "Open (150)", "Waiting for customer (40)", "Closed (20)"
    for url in ("/manage/tickets?status=all", "/manage/tickets?status=all&page=2", "/manage/tickets?status=waiting"):
        page = client.get(url).get_data(as_text=True)
        assert all(tab in page for tab in tabs), url
    assert "Page 1 of 2" in client.get("/manage/tickets?status=all").get_data(as_text=True)
    mine = client.get("/manage/tickets?status=all&mine=1").get_data(as_text=True)  # 30 rows: counted from them
    expected = [sum(1 for i, st in enumerate(statuses) if i % 7 == 0 and st == want)
                for want in ("open", "waiting", "closed")]
    assert f"Open ({expected[0]})" in mine and f"Waiting for customer ({expected[1]})" in mine
    assert f"Closed ({expected[2]})" in mine and len(_rows(mine)) == sum(expected)
