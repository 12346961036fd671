"""The agent workspace's table: canned responses (per department, or for every department)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.models import utcnow


class CannedResponse(Base):
    """A reply text agents insert with one click; ``department_id`` ``None`` = every department.

    The body may hold placeholders (``{customer_name}``, ...) filled in for the ticket at hand
    (:data:`core.workspace.canned.PLACEHOLDERS`).
    """

    __tablename__ = "canned_responses"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"),
                                                      nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
