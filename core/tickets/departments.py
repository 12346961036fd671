"""Departments: validation of the retention switches, create/update with audit, agent membership."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.auth.sessions import has_role
from core.models import AuditEntry, User
from core.tickets.models import MAX_DAYS, Department, DepartmentAgent

RETENTION_FIELDS = ("auto_close_days", "lock_after_days", "delete_after_days")
RETENTION_HELP = {
    "auto_close_days": "Close tickets waiting for the customer (an agent replied last) once the last agent reply "
                       "is older than this many days. The customer can still reply to reopen them unless they "
                       "get locked. Empty = never close automatically.",
    "lock_after_days": "Lock closed tickets this many days after they were closed, whoever closed them (also "
                       "tickets closed by hand when automatic closing is off). Locked tickets take no more "
                       "replies from the customer. Empty = never lock.",
    "delete_after_days": "Permanently delete closed tickets this many days after they were closed, with their "
                         "messages, history and attachment references (files no other item uses are removed by "
                         "`plugdesk storage gc`). Cannot be undone. Empty = never delete.",
}


class DepartmentInvalid(ValueError):
    """Refused department fields; ``errors`` maps each field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_days(value: Any) -> int | None:
    """A retention day count: ``None``/``""`` = off, else a whole number 1..36,500; ``ValueError`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("must be a whole number of days or empty (off)")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise ValueError("must be a whole number of days or empty (off)") from None
    if not isinstance(value, int):
        raise ValueError("must be a whole number of days or empty (off)")
    if value < 1:
        raise ValueError("must be at least 1 day; leave it empty (null) to switch this rule off")
    if value > MAX_DAYS:
        raise ValueError(f"must be at most {MAX_DAYS:,} days (100 years)")
    return value


def clean_fields(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate department fields (name, description, public, the three day counts); raise DepartmentInvalid."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if "name" in data or creating:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "Enter a name."
        elif len(name.strip()) > 120:
            errors["name"] = "At most 120 characters."
        else:
            clean["name"] = name.strip()
    if "description" in data:
        if not isinstance(data["description"], str):
            errors["description"] = "Expected text."
        else:
            clean["description"] = data["description"][:5000]
    if "public" in data:
        if not isinstance(data["public"], bool):
            errors["public"] = "Expected true or false."
        else:
            clean["public"] = data["public"]
    if "email" in data:
        clean_email = _department_address(data["email"])
        if clean_email is None:
            errors["email"] = "Enter one email address (name@example.com), or leave it empty."
        else:
            clean["email"] = clean_email
    for key in RETENTION_FIELDS:
        if key in data:
            try:
                clean[key] = parse_days(data[key])
            except ValueError as exc:
                errors[key] = str(exc)
    if errors:
        raise DepartmentInvalid(errors)
    return clean


def _department_address(value: Any) -> str | None:
    """The department's Reply-To address ("" = none), or ``None`` when unusable (CR/LF, not an address)."""
    from core.outbox.compose import InvalidAddress, check_address

    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    try:
        return check_address(value) if isinstance(value, str) else None
    except InvalidAddress:
        return None


def snapshot(d: Department) -> dict[str, Any]:
    """The audited/API fields of a department."""
    return {"id": d.id, "name": d.name, "description": d.description, "public": d.public, "email": d.email or "",
            **{k: getattr(d, k) for k in RETENTION_FIELDS}}


def agent_ids(session: Session, department_id: int) -> list[int]:
    """Users assigned to a department."""
    return list(session.scalars(select(DepartmentAgent.user_id)
                                .where(DepartmentAgent.department_id == department_id)))


def department_json(session: Session, d: Department) -> dict[str, Any]:
    """The API shape of a department (with its agents)."""
    return {**snapshot(d), "agent_ids": agent_ids(session, d.id),
            "created_at": d.created_at.isoformat().replace("+00:00", "Z")}


def save_department(session: Session, department_id: int | None, data: Mapping[str, Any], *, actor: str,
                    ip: str = "") -> Department:
    """Create (``department_id`` None) or update a department; audit the change; ``agent_ids`` optional."""
    clean = clean_fields(data, creating=department_id is None)
    if "name" in clean:
        clash = session.scalar(select(Department.id).where(Department.name == clean["name"]))
        if clash is not None and clash != department_id:
            raise DepartmentInvalid({"name": "Another department has this name."})
    agents = data.get("agent_ids")
    if agents is not None:
        if not isinstance(agents, list) or not all(isinstance(a, int) and not isinstance(a, bool)
                                                   and 0 < a < 2**31 for a in agents):  # ids: 32-bit integers
            raise DepartmentInvalid({"agent_ids": "Expected a list of user ids."})
        staff = set(session.scalars(select(User.id).where(User.id.in_(agents))))
        users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(staff)))}
        bad = [a for a in agents if a not in users or not has_role(users[a], "agent")]
        if bad:
            raise DepartmentInvalid({"agent_ids": f"Not agents: {bad}."})
    if department_id is None:
        dept = Department(description="", public=True)
        session.add(dept)
        old = None
    else:
        found = session.get(Department, department_id)
        if found is None:
            raise LookupError(department_id)
        dept = found
        old = snapshot(dept)
    for key, value in clean.items():
        setattr(dept, key, value)
    session.flush()
    if agents is not None:
        session.execute(delete(DepartmentAgent).where(DepartmentAgent.department_id == dept.id))
        session.add_all(DepartmentAgent(department_id=dept.id, user_id=a) for a in sorted(set(agents)))
    new = {**snapshot(dept), **({"agent_ids": sorted(set(agents))} if agents is not None else {})}
    session.add(AuditEntry(actor=actor, ip=ip, action="department.create" if old is None else "department.update",
                           target=f"department:{dept.id} {dept.name}", old=old, new=new))
    return dept
