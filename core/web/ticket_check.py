"""The portal's ticket form reports every problem at once (subject, message, department, guest address and
the captcha), so a wrong captcha never hides an empty subject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.tickets import service
from core.tickets.models import Department
from core.users import AccountError, normalize_email


def ticket_form_problems(st: Any, user: Any, values: Mapping[str, str], department_id: int | None
                         ) -> dict[str, list[str]]:
    """Problems of a submitted ticket form by field (empty: let :func:`core.tickets.service.create_ticket` try)."""
    errors: dict[str, list[str]] = {}
    subject, body = values.get("subject", ""), values.get("body", "")
    if not subject.strip():
        errors["subject"] = ["Enter a subject."]
    elif len(subject.strip()) > service.SUBJECT_MAX:
        errors["subject"] = [f"The subject may have at most {service.SUBJECT_MAX} characters."]
    if not body.strip():
        errors["body"] = ["Enter a message."]
    elif len(body) > service.BODY_MAX:
        errors["body"] = [f"The message may have at most {service.BODY_MAX:,} characters."]
    with st.db.session() as s:
        allowed = {d.id for d in service.submittable_departments(s, user)}
        department = s.get(Department, department_id) if department_id is not None else None
    if department_id not in allowed:
        errors["department_id"] = ["This department only takes tickets from its agents."
                                   if department is not None and not department.public
                                   else "Choose one of the listed departments."]
    if user is None:
        try:
            normalize_email(values.get("email", ""))
        except AccountError as exc:
            errors["email"] = exc.messages
    return errors
