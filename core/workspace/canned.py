"""Canned responses: reply texts per department (or for all), with placeholders filled in per ticket.

Placeholders are ``{name}`` from :data:`PLACEHOLDERS` only; anything else in braces stays as written (no
format-string evaluation, so a response can never reach attributes or other data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.models import AuditEntry, utcnow
from core.tickets.models import Department
from core.workspace.models import CannedResponse

TITLE_MAX = 120
BODY_MAX = 20_000
PLACEHOLDERS: dict[str, str] = {
    "customer_name": "the customer's display name (or the guest's address)",
    "customer_email": "the customer's email address",
    "ticket_id": "the ticket number",
    "ticket_subject": "the ticket's subject",
    "department": "the ticket's department",
    "agent_name": "your display name",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class CannedInvalid(ValueError):
    """Refused input; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Filled:
    """A canned response ready to insert: its id, title and body with the placeholders filled in."""

    id: int
    title: str
    body: str


def fill(body: str, values: Mapping[str, str]) -> str:
    """``body`` with every known ``{placeholder}`` replaced by ``values``; unknown ones stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def for_department(session: Session, department_id: int | None) -> list[CannedResponse]:
    """The responses usable in ``department_id``: its own and those for every department, by title."""
    stmt = select(CannedResponse).order_by(CannedResponse.title, CannedResponse.id)
    if department_id is not None:
        stmt = stmt.where(or_(CannedResponse.department_id.is_(None), CannedResponse.department_id == department_id))
    return list(session.scalars(stmt))


def filled_for(session: Session, department_id: int, values: Mapping[str, str]) -> list[Filled]:
    """The department's responses with ``values`` filled in."""
    return [Filled(r.id, r.title, fill(r.body, values)) for r in for_department(session, department_id)]


def unknown_placeholders(body: str) -> list[str]:
    """Names in braces that are not placeholders (shown as a hint to the manager)."""
    return sorted({m.group(1) for m in _PLACEHOLDER.finditer(body)} - set(PLACEHOLDERS))


def save(session: Session, response_id: int | None, data: Mapping[str, str], *, actor: str,
         ip: str = "") -> CannedResponse:
    """Create or change a response (audited); raise :class:`CannedInvalid` for bad input, ``LookupError``."""
    errors: dict[str, str] = {}
    title = " ".join((data.get("title") or "").split())
    body = (data.get("body") or "").replace("\r\n", "\n").strip()
    if not title or len(title) > TITLE_MAX:
        errors["title"] = f"Give it a title of at most {TITLE_MAX} characters."
    if not body or len(body) > BODY_MAX:
        errors["body"] = f"Write the response (at most {BODY_MAX:,} characters)."
    raw_department = (data.get("department_id") or "").strip()
    department_id: int | None = None
    if raw_department:
        department_id = int(raw_department) if raw_department.isascii() and raw_department.isdigit() else -1
        if department_id < 1 or len(raw_department) > 9 or session.get(Department, department_id) is None:
            errors["department_id"] = "Choose one of the departments, or all departments."
    if errors:
        raise CannedInvalid(errors)
    if response_id is None:
        row = CannedResponse(title=title, body=body, department_id=department_id)
        session.add(row)
        old = None
    else:
        found = session.get(CannedResponse, response_id)
        if found is None:
            raise LookupError(response_id)
        row = found
        old = {"title": row.title, "department_id": row.department_id, "body": row.body}
        row.title, row.body, row.department_id = title, body, department_id
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()
    session.add(AuditEntry(actor=actor, ip=ip, action="canned.create" if old is None else "canned.update",
                           target=f"canned:{row.id} {row.title}"[:200], old=old,
                           new={"title": title, "department_id": department_id, "body": body}))
    return row


def remove(session: Session, response_id: int, *, actor: str, ip: str = "") -> bool:
    """Delete a response (audited); ``False`` when there is none with this id."""
    row = session.get(CannedResponse, response_id)
    if row is None:
        return False
    session.add(AuditEntry(actor=actor, ip=ip, action="canned.delete", target=f"canned:{row.id} {row.title}"[:200],
                           old={"title": row.title, "department_id": row.department_id, "body": row.body}))
    session.delete(row)
    return True
