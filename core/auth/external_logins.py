"""Links from an external sign-in (a redirect provider's subject id) to an existing account.

Accounts a redirect provider created itself carry ``(provider, external_id)`` on the ``users`` row. An account
that already existed (a local account, or one from another provider) keeps its owner and its password; when
its holder proves that password once, a row here lets the provider's subject sign in to it as well.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Database, UTCDateTime
from core.models import utcnow


class ExternalLogin(Base):
    """One linked external sign-in: ``provider`` + its stable ``external_id`` -> ``user_id``."""

    __tablename__ = "external_logins"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_external_logins_provider_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def linked_user_id(db: Database, provider: str, external_id: str) -> int | None:
    """The account linked to this external sign-in, if any."""
    with db.engine.connect() as conn:
        return conn.execute(select(ExternalLogin.user_id).where(ExternalLogin.provider == provider,
                                                                ExternalLogin.external_id == external_id)).scalar()


def link(db: Database, provider: str, external_id: str, user_id: int) -> None:
    """Link (or re-link) the external sign-in to ``user_id``."""
    with db.session() as session:
        session.execute(delete(ExternalLogin).where(ExternalLogin.provider == provider,
                                                    ExternalLogin.external_id == external_id))
        session.add(ExternalLogin(provider=provider, external_id=external_id, user_id=user_id, created_at=utcnow()))


def links_of(db: Database, user_id: int) -> list[str]:
    """The providers linked to an account (for the profile page and the admin)."""
    with db.engine.connect() as conn:
        return list(conn.execute(select(ExternalLogin.provider).where(ExternalLogin.user_id == user_id)
                                 .order_by(ExternalLogin.provider)).scalars())
