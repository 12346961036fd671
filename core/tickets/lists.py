"""The ticket lists people open all day, as precompiled reads (:mod:`core.db_reads`, issue 22).

"My tickets" is one fixed statement. The agent queue combines a few filters and sorts; each combination that
occurs gets its own :class:`~core.db_reads.Read`, built on first use and kept in a module dict (a few hundred
statements at most for the page: scopes x search shapes x mine x status x sorts; fewer for the counts), with
every value a bound parameter. Department visibility is a sub-select on ``department_agents`` (expanding
``IN`` lists would give each agent's department set its own SQL), a manager's every department one on
``departments``. With the ``(department_id, status, updated_at)`` index the default view (open tickets,
latest update first) then reads one page per department instead of sorting them all (~50-150 ms -> < 3 ms at
100,000 tickets). The search box's text goes through the trigram index where there is one
(:mod:`core.tickets.search`).

The queue's page is a derived table (filter, sort, ``LIMIT``/``OFFSET`` over ``tickets`` alone) that is then
joined with the departments and the two people a row names: the joins run for the rows shown, not for every
ticket the sort has to look at.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from markupsafe import Markup, escape
from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from core.db_reads import Read
from core.models import User
from core.tickets import search
from core.tickets.models import Department, DepartmentAgent, Ticket
from core.types import TicketStatus
from core.web.fastpaths import url_prefix

PAGE_SIZE = 200
SORTS = ("updated", "created", "oldest", "subject", "id")
#: What the customer sees for each status (the label comes out of the query, no lookup per row)
STATUS_LABELS = {TicketStatus.OPEN.value: "Open", TicketStatus.WAITING.value: "Answered",
                 TicketStatus.CLOSED.value: "Closed"}


class Escaped(dict[str, Markup]):
    """``esc[value]``: ``escape(value)``, computed once per distinct value and page. A list's names repeat (a
    department, an assignee, a customer on many rows); a dict hit costs ~0.1 µs, ``escape`` ~0.6 µs."""

    def __missing__(self, key: str) -> Markup:
        found = self[key] = escape(key)
        return found


class MinuteUTC(FunctionElement[str]):
    """A UTC timestamp as ``YYYY-MM-DD HH:MM`` text, formatted by the database: what the ``minute_utc`` template
    filter writes, without a ``datetime`` built, made timezone-aware and formatted in Python per row."""

    type = String()
    name = "minute_utc"
    inherit_cache = True


@compiles(MinuteUTC, "sqlite")
def _minute_sqlite(element: MinuteUTC, compiler: Any, **kw: Any) -> str:
    """SQLite stores UTC as text (``2026-01-01 10:00:00.000000``, SQLAlchemy's format): its first 16 characters
    are the minute (``substr`` is ~0.5 µs a row cheaper than ``strftime``, which parses the date first)."""
    return str(compiler.process(func.substr(*element.clauses, 1, 16), **kw))


@compiles(MinuteUTC, "postgresql")
def _minute_postgresql(element: MinuteUTC, compiler: Any, **kw: Any) -> str:
    """PostgreSQL: ``timestamptz`` at UTC, then formatted."""
    utc = func.timezone(literal_column("'UTC'"), *element.clauses)
    return str(compiler.process(func.to_char(utc, literal_column("'YYYY-MM-DD HH24:MI'")), **kw))


def _truth(column: Any) -> Any:
    """A boolean column's raw value (0/1 on SQLite, a bool on PostgreSQL): the templates only test it, and rows
    without a result processor are built without a per-row Python step."""
    return type_coerce(column, Integer).label(column.key)


#: A customer's own tickets, newest activity first, in the order tickets/list.html unpacks them.
MY_TICKETS = Read(
    select(Ticket.id, Ticket.subject, Department.name.label("department"), Ticket.status,
           case(STATUS_LABELS, value=Ticket.status, else_="").label("label"), _truth(Ticket.locked),
           MinuteUTC(Ticket.updated_at).label("updated"))
    .join(Department, Department.id == Ticket.department_id)
    .where(Ticket.customer_id == bindparam("customer")).order_by(Ticket.updated_at.desc()).limit(500))

#: The departments a queue offers: all of them (managers) or the agent's own, by name.
DEPARTMENTS_ALL = Read(select(Department.id, Department.name).order_by(Department.name))
DEPARTMENTS_OF = Read(select(Department.id, Department.name)
                      .join(DepartmentAgent, DepartmentAgent.department_id == Department.id)
                      .where(DepartmentAgent.user_id == bindparam("user")).order_by(Department.name))


class Filters(NamedTuple):
    """The shape of a queue request (what decides the SQL); the values go in as bound parameters.

    ``scope``: ``"all"`` (a manager, no department chosen), ``"agent"`` (the agent's departments) or ``"dept"``
    (one department the user may see); ``search``: ``""`` none, ``"text"`` subject/email, ``"id"`` text or
    ticket number; ``status``: one status (``True``) or all; ``sort``: a key of :data:`SORTS`; ``indexed``:
    ``""`` the text is scanned with ``LIKE`` (parameter ``like``), else looked up in the trigram index
    (:mod:`core.tickets.search`, parameter ``match``) for ``"few"`` or ``"many"`` matches (:func:`index_mode`;
    the counts always read as ``"few"``).
    """

    scope: str
    search: str
    mine: bool
    status: bool
    sort: str
    indexed: str = ""


_PAGES: dict[Filters, Read] = {}
_COUNTS: dict[Filters, Read] = {}


_INDEX = table(search.TABLE, column("rowid"))
_MATCH = literal_column(search.TABLE).op("MATCH")(bindparam("match", type_=String))
#: Up to this many matches a page is read from the index's matches (sorted after); above it, the queue's own
#: order is walked and each ticket looked up in the matches (it stops at the page instead of sorting them all).
FEW_MATCHES = 5000


def index_mode(matches: int) -> str:
    """The ``indexed`` value of a page read for a text matching ``matches`` tickets (see :class:`Filters`)."""
    return "few" if matches <= FEW_MATCHES else "many"


def _driven_by_index(f: Filters) -> bool:
    """A text search with few matches reads from the index joined with ``tickets`` (~1 ms at any size of the
    queue); a number search keeps ``IN`` (the ticket with that number need not contain the digits)."""
    return f.indexed == "few" and f.search == "text"


def _source(f: Filters) -> Any:
    """What the page and the counts read from: ``tickets``, or the index joined with it."""
    return _INDEX.join(Ticket, Ticket.id == _INDEX.c.rowid) if _driven_by_index(f) else Ticket


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.scope == "all":  # as a sub-select, SQLite walks the queue index per department and stops at the page
        conds.append(Ticket.department_id.in_(select(Department.id)))
    elif f.scope == "agent":
        conds.append(Ticket.department_id.in_(
            select(DepartmentAgent.department_id).where(DepartmentAgent.user_id == bindparam("user"))))
    elif f.scope == "dept":
        conds.append(Ticket.department_id == bindparam("department"))
    if _driven_by_index(f):
        conds.append(_MATCH)
    elif f.search:
        cond: ColumnElement[bool]
        if f.indexed:  # "many": ``id + 0`` keeps SQLite walking the queue's index in page order
            ticket_id = Ticket.id + literal_column("0") if f.indexed == "many" else Ticket.id
            cond = ticket_id.in_(select(_INDEX.c.rowid).where(_MATCH))
        else:
            like = bindparam("like", type_=String)
            cond = or_(Ticket.subject.ilike(like, escape="\\"), Ticket.guest_email.ilike(like, escape="\\"))
        if f.search == "id":
            cond = or_(cond, Ticket.id == bindparam("ticket"))
        conds.append(cond)
    if f.mine:
        conds.append(Ticket.assignee_id == bindparam("me"))
    if f.status:
        conds.append(Ticket.status == bindparam("status"))
    return conds


def counts_read(f: Filters) -> Read:
    """Tickets per department and status under the filters (status and sort ignored): ``(status, n)`` rows,
    a status once per department (see :func:`status_counts`). Grouped in the order of the
    ``(department_id, status, ...)`` indexes, the count needs no temporary B-tree (65 -> 14 ms over 100,000
    tickets)."""
    key = f._replace(status=False, sort="", indexed="few" if f.indexed else "")
    found = _COUNTS.get(key)
    if found is None:
        found = _COUNTS[key] = Read(select(Ticket.status, func.count().label("n")).select_from(_source(key))
                                    .where(*_conditions(key))
                                    .group_by(Ticket.department_id, Ticket.status))
    return found


def status_counts(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """``{status: tickets}`` from :func:`counts_read`'s rows (or ``(status, 1)`` per ticket of a page)."""
    counts: dict[str, int] = {}
    for status, n in rows:
        counts[status] = counts.get(status, 0) + n
    return counts


def page_read(f: Filters) -> Read:
    """One page of the queue (``offset`` parameter), in the order queue.html unpacks the rows."""
    sort = f.sort if f.sort in SORTS else "updated"
    f = f._replace(sort=sort)  # the memo's keys stay a small, bounded set
    found = _PAGES.get(f)
    if found is not None:
        return found
    page = (select(Ticket.id, Ticket.subject, Ticket.customer_id, Ticket.guest_email, Ticket.department_id,
                   Ticket.status, Ticket.locked, Ticket.assignee_id, Ticket.created_at, Ticket.updated_at)
            .select_from(_source(f)).where(*_conditions(f)).order_by(*_order(Ticket, sort))
            .limit(PAGE_SIZE).offset(bindparam("offset")).subquery("page"))
    customer, assignee = aliased(User, name="customer"), aliased(User, name="assignee")
    stmt = (select(page.c.id, page.c.subject, page.c.customer_id, func.coalesce(customer.username, "?")
                   .label("customer"), page.c.guest_email, func.coalesce(Department.name, "?").label("department"),
                   page.c.status, _truth(page.c.locked), func.coalesce(assignee.username, "—").label("assignee"),
                   MinuteUTC(page.c.updated_at).label("updated"))
            .select_from(page)
            .outerjoin(Department, Department.id == page.c.department_id)
            .outerjoin(customer, customer.id == page.c.customer_id)
            .outerjoin(assignee, assignee.id == page.c.assignee_id)
            .order_by(*_order(page.c, sort)))
    found = _PAGES[f] = Read(stmt)
    return found


def _order(cols: Any, sort: str) -> tuple[Any, ...]:
    """The sort of ``sort`` on ``cols`` (the table or the page's columns), ties broken by newest number."""
    first = {"updated": cols.updated_at.desc(), "created": cols.created_at.desc(), "oldest": cols.created_at.asc(),
             "subject": cols.subject.asc(), "id": cols.id.desc()}[sort]
    return (first, cols.id.desc())


def ticket_url_prefix(endpoint: str, arg: str) -> str:
    """The URL of ``endpoint`` without the number that ends it (``/tickets/``): built once per page, each row
    appends its id (as ``url_for`` would write it: the converter of an integer is its decimal digits)."""
    prefix = url_prefix(endpoint, **{arg: 0})
    if prefix is None:
        raise ValueError(f"{endpoint}: the URL does not end with its {arg}")
    return prefix
