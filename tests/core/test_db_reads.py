"""Precompiled reads (:mod:`core.db_reads`): the same rows and types as the ORM, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, Integer, String, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import Database, UTCDateTime
from core.db_reads import Read


class _Base(DeclarativeBase):
    pass


class _Shelf(_Base):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class _Book(_Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey("shelves.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(50))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
BOOK = Read(select(_Book.id, _Book.title, _Book.read_at, _Shelf.name.label("shelf"))
            .outerjoin(_Shelf, _Shelf.id == _Book.shelf_id).where(_Book.id == bindparam("id")))
SINCE = Read(select(_Book.id).where(_Book.read_at >= bindparam("since", type_=UTCDateTime()))
             .order_by(_Book.id).limit(10))


def _filled(url: str) -> Database:
    db = Database(url)
    _Base.metadata.create_all(db.engine)
    with db.session() as s:
        s.add(_Shelf(id=1, name="Fiction"))
        s.flush()  # no relationship tells the unit of work the order
        s.add_all([_Book(id=1, shelf_id=1, title="Dune", read_at=WHEN), _Book(id=2, title="Loose", read_at=None)])
    return db


def _check(db: Database) -> None:
    seen: list[str] = []
    db.read_listeners.append(seen.append)
    with db.reader() as r:
        one = r.first(BOOK, id=1)
        assert one is not None
        assert (one.id, one.title, one.shelf) == (1, "Dune", "Fiction")
        assert one.read_at == WHEN and one.read_at.tzinfo is not None  # through UTCDateTime
        loose = r.first(BOOK, id=2)
        assert loose is not None and loose.shelf is None and loose.read_at is None
        assert r.first(BOOK, id=3) is None
        assert r.scalar(BOOK, id=1) == 1
        assert [row.id for row in r.all(SINCE, since=WHEN)] == [1]  # a bound datetime goes through the binder
        with pytest.raises(TypeError, match="missing query parameters: id"):
            r.first(BOOK)
    assert len(seen) == 5
    db.dispose()


def test_reads_on_sqlite(tmp_path: Path) -> None:
    _check(_filled(f"sqlite:///{tmp_path / 'reads.db'}"))


@pytest.mark.slow
def test_reads_on_postgres(postgres_url: str) -> None:
    _check(_filled(postgres_url))


def test_refused_statements() -> None:
    with pytest.raises(ValueError, match="distinct named columns"):
        Read(select(_Book.id, _Shelf.id))
    db = Database("sqlite://")
    _Base.metadata.create_all(db.engine)
    many = Read(select(_Book.id).where(_Book.id.in_(bindparam("ids", expanding=True))))
    with db.reader() as r, pytest.raises(ValueError, match="expanding IN"):
        r.all(many, ids=[1, 2])
