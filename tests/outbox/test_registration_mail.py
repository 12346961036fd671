"""Registration writes the account, its password and the "Confirm your email address" row in ONE transaction:
a failure at any step after the account row leaves neither the account nor the message (issue 16 item 1)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from core import hookimpl
from core.auth import verification
from core.auth.accounts import register
from core.models import Credential, User
from core.outbox.models import OutboxMessage
from core.testing import TEST_PASSWORD
from tests.tickets.conftest import PLUGINS


def _app(factory: Any) -> Any:
    return factory(PLUGINS, overrides={"server": {"base_url": "https://help.example.com"}})


def _counts(app: Any, name: str) -> tuple[int, int, int]:
    """Accounts named ``name``, their credentials, and outbox rows addressed to ``name@example.com``."""
    with app.extensions["plugdesk"].db.session() as s:
        users = list(s.scalars(select(User.id).where(User.username == name)))
        creds = s.scalar(select(func.count()).select_from(Credential).where(Credential.user_id.in_(users))) or 0
        mail = s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.to_addr == f"{name}@example.com")) or 0
    return len(users), creds, mail


def _register(app: Any, name: str) -> Any:
    with app.app_context():
        return register(app.extensions["plugdesk"], username=name, email=f"{name}@example.com",
                        password=TEST_PASSWORD)


def test_account_password_and_confirmation_commit_together(plugdesk_app_factory) -> None:
    app = _app(plugdesk_app_factory)
    st = app.extensions["plugdesk"]
    outside = create_engine(st.db.engine.url)
    seen: list[int] = []

    class Witness:
        @hookimpl(tryfirst=True)
        def auth_set_password(self, user: Any) -> None:
            with outside.connect() as conn:  # another connection: the account is not committed yet
                seen.append(conn.execute(text("SELECT count(*) FROM users WHERE id = :id"), {"id": user.id}).scalar())

    st.host.pm.register(Witness(), "witness")
    user = _register(app, "nia")
    outside.dispose()
    assert seen == [0]
    assert _counts(app, "nia") == (1, 1, 1)
    with st.db.session() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.related == f"user:{user.id}")).one()
        assert (row.kind, row.state) == ("verify_email", "queued")


def test_a_failure_after_the_outbox_row_leaves_no_account_and_no_mail(plugdesk_app_factory, monkeypatch) -> None:
    app = _app(plugdesk_app_factory)
    queue = verification.send_verification

    def queue_then_fail(*args: Any, **kwargs: Any) -> bool:
        assert queue(*args, **kwargs)  # the account and the message row are in the session now
        raise RuntimeError("forced failure before the commit")

    monkeypatch.setattr(verification, "send_verification", queue_then_fail)
    with pytest.raises(RuntimeError, match="forced failure"):
        _register(app, "oda")
    assert _counts(app, "oda") == (0, 0, 0)
    monkeypatch.undo()
    _register(app, "oda")  # the name and the address are free again
    assert _counts(app, "oda") == (1, 1, 1)


def test_a_failing_password_plugin_leaves_no_account_and_no_mail(plugdesk_app_factory) -> None:
    app = _app(plugdesk_app_factory)

    class Broken:
        @hookimpl(tryfirst=True)
        def auth_set_password(self) -> None:
            raise OSError("password store unreachable")

    app.extensions["plugdesk"].host.pm.register(Broken(), "broken")
    with pytest.raises(Exception, match="password store unreachable"):
        _register(app, "pia")
    assert _counts(app, "pia") == (0, 0, 0)
