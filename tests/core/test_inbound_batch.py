"""The poller's batches (core/inbound/batch.py): one transaction per batch, a savepoint per message, the
duplicate and rate checks answered for the whole batch, acknowledgement only after the commit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from core import StorageUnavailable
from core.inbound.ingest import RetryLater
from core.inbound.poll import poll_source
from tests.inbound_mail import MemorySource, add_department, message, outcomes, tickets


@pytest.fixture
def app(plugdesk_app_factory: Any) -> Any:
    app = plugdesk_app_factory(["auth_local", "storage_fs"], overrides={"inbound": {"sender_limit_per_hour": 2}})
    add_department(app)
    return app


def poll(app: Any, source: MemorySource) -> dict[str, int]:
    return poll_source(app.extensions["plugdesk"], source)


def test_the_rate_limit_and_message_id_duplicates_count_messages_of_the_same_batch(app):
    source = MemorySource()
    for n in range(4):
        source.deliver(message(sender="loop@example.com", subject=f"n{n}"))
    source.deliver(message(sender="bob@example.com", msgid="<twice@example.com>"))
    source.deliver(message(sender="carol@example.com", msgid="<twice@example.com>"))
    assert poll(app, source) == {"ticket": 3, "filed": 3}
    reasons = [reason for _o, reason in outcomes(app)]
    assert sum("sender_limit_per_hour" in r for r in reasons) == 2 and "same Message-ID" in reasons[-1]
    assert not source.pending


def test_a_failed_batch_rolls_back_completely_and_is_ingested_once(app, monkeypatch):
    """A failure outside any savepoint rolls the whole batch back (on SQLite too, where pysqlite would commit
    at the first RELEASE unless core begins the transaction itself); the messages then go one by one."""
    import core.inbound.batch as batch

    real, calls = batch._write_one, []

    def write_then_fail(*args: Any) -> None:
        calls.append(1)
        real(*args)
        if len(calls) == 3:
            raise RuntimeError("a bug after the third message")

    monkeypatch.setattr(batch, "_write_one", write_then_fail)
    source = MemorySource()
    for n in range(3):
        source.deliver(message(sender=f"c{n}@example.com", subject=f"n{n}"))
    assert poll(app, source) == {"ticket": 3}  # not "duplicate": nothing of the failed batch was committed
    assert sorted(t["subject"] for t in tickets(app)) == ["n0", "n1", "n2"] and not source.pending


def test_a_database_outage_acknowledges_nothing_and_loses_nothing(app, monkeypatch):
    import core.inbound.ingest as ingest

    real = ingest._record

    def flaky(state: Any, source: str, uid: str, *args: Any, **kwargs: Any) -> Any:
        if uid == "2":
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(state, source, uid, *args, **kwargs)

    monkeypatch.setattr(ingest, "_record", flaky)
    source = MemorySource()
    for n in range(3):
        source.deliver(message(sender=f"c{n}@example.com", subject=f"n{n}"))
    with pytest.raises(OperationalError):
        poll(app, source)
    assert len(source.pending) == 3 and not source.acked  # the others committed, but nothing is acked yet
    monkeypatch.setattr(ingest, "_record", real)
    assert poll(app, source) == {"duplicate": 2, "ticket": 1}
    assert sorted(t["subject"] for t in tickets(app)) == ["n0", "n1", "n2"] and not source.pending


def test_a_file_store_failure_writes_and_acknowledges_nothing(app, monkeypatch):
    from plugins.storage_fs.store import FsBlobStore

    def down(*_args: Any) -> bool:
        raise StorageUnavailable("file store: disk full")

    monkeypatch.setattr(FsBlobStore, "put_file", down)
    source = MemorySource()
    for n in range(3):
        source.deliver(message(sender=f"c{n}@example.com", subject=f"n{n}"))
    with pytest.raises(RetryLater):
        poll(app, source)
    assert not tickets(app) and len(source.pending) == 3
    monkeypatch.undo()
    assert poll(app, source) == {"ticket": 3}
