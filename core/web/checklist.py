"""The dashboard's setup checklist: what a fresh install still needs, shown to managers until all is done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy import func, select

from core.kb.models import KbArticle
from core.tickets.models import Department, DepartmentAgent


@dataclass(frozen=True)
class Step:
    """One item: ``done``, what it means (``text``), where to do it (``href``, ``action``)."""

    key: str
    done: bool
    text: str
    href: str
    action: str


def setup_steps(st: Any) -> list[Step]:
    """Every step with its state (a handful of cheap queries)."""
    with st.db.session() as s:
        public = s.scalar(select(func.count()).select_from(Department).where(Department.public.is_(True))) or 0
        staffed = s.scalar(select(func.count()).select_from(DepartmentAgent)) or 0
        articles = s.scalar(select(func.count()).select_from(KbArticle).where(KbArticle.published.is_(True))) or 0
    mail = bool(st.settings.get("mail", "url"))
    captcha = bool(st.runtime.get("security.captcha.enabled"))
    named = st.runtime.get("branding.name") != "Help desk" if "branding.name" in st.runtime.specs else True
    return [
        Step("department", public > 0, "A public department takes customers' tickets",
             url_for("departments_manage.departments"), "Add a department"),
        Step("agents", staffed > 0, "Agents are assigned to a department (they see its queue)",
             url_for("departments_manage.departments"), "Assign agents"),
        Step("mail", mail, "Email is delivered ([mail] url in plugdesk.toml; until then messages are saved as "
             ".eml files in the outbox folder)", url_for("mail_manage.mail"), "See the mail outbox"),
        Step("captcha", captcha, "A captcha protects registration and guest tickets",
             url_for("manage.settings", tab="general"), "Open Settings › Security"),
        Step("branding", named, "The portal carries your name, colour and logo",
             url_for("branding.branding"), "Open Settings › Branding"),
        Step("kb", articles > 0, "The knowledge base has a published article",
             url_for("kb_manage.edit"), "Write an article"),
    ]


def setup_checklist(st: Any) -> list[Step] | None:
    """The steps while any is open; ``None`` once everything is done (the checklist disappears)."""
    steps = setup_steps(st)
    return None if all(step.done for step in steps) else steps
