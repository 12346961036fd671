"""The moderation_newusers plugin: who is new, thresholds from its settings, staff exempt, reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import plugins.moderation_newusers as plugin
from core.app_state import state
from core.plugins import available_plugins
from core.testing import create_user
from core.types import PostInfo, VerdictAction
from core.users import to_info


@pytest.fixture
def app(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local", "moderation_newusers"])
    state(app).runtime.patch({"security.moderate_new_users": True}, actor="test")
    return app


def author(app, role="user", days=0):
    from core.models import User

    info = create_user(app, role)
    st = state(app)
    with st.db.session() as s:
        user = s.get(User, info.id)
        user.created_at = datetime.now(UTC) - timedelta(days=days)
        return to_info(user)


def vote(app, who, replies=0):
    return plugin.moderation_check(who, PostInfo("thread", "t", "<p>b</p>", author_reply_count=replies),
                                   state(app).ctx)


def test_declared_under_the_entry_point_and_documents_its_settings(app):
    assert "moderation_newusers" in available_plugins()
    specs = state(app).runtime.specs
    assert specs["plugins.moderation_newusers.min_account_age_days"].default == 7
    assert specs["plugins.moderation_newusers.min_published_replies"].default == 5
    assert specs["plugins.moderation_newusers.min_account_age_days"].tab == "Community"


def test_young_account_is_held_with_a_reason(app):
    verdict = vote(app, author(app, days=2), replies=10)
    assert verdict.action is VerdictAction.HOLD
    assert verdict.reason == "New user: account is 2 days old (posts skip moderation after 7 days)"


def test_few_replies_is_held_even_for_old_accounts(app):
    verdict = vote(app, author(app, days=400), replies=1)
    assert verdict.action is VerdictAction.HOLD
    assert "1 published reply (posts skip moderation from 5)" in verdict.reason
    both = vote(app, author(app, days=0), replies=0)
    assert "0 days old" in both.reason and "0 published replies" in both.reason


def test_established_users_and_staff_pass(app):
    assert vote(app, author(app, days=8), replies=5) is None
    for role in ("agent", "manager", "admin"):
        assert vote(app, author(app, role=role, days=0), replies=0) is None


def test_off_when_the_security_setting_is_off(app):
    state(app).runtime.patch({"security.moderate_new_users": False}, actor="test")
    assert vote(app, author(app, days=0), replies=0) is None


def test_thresholds_are_configurable_and_validated(app):
    from core.runtime_settings import SettingsValidationError

    runtime = state(app).runtime
    runtime.patch({"plugins.moderation_newusers.min_account_age_days": 1,
                   "plugins.moderation_newusers.min_published_replies": 0}, actor="test")
    assert vote(app, author(app, days=2), replies=0) is None
    assert vote(app, author(app, days=0), replies=99).action is VerdictAction.HOLD
    with pytest.raises(SettingsValidationError):
        runtime.patch({"plugins.moderation_newusers.min_published_replies": -1}, actor="test")


def test_core_counts_published_replies_for_the_plugin(app):
    """End to end: after 5 published replies and 7 days, the same user's posts are published directly."""
    from core.community.service import create_reply, create_thread, decide
    from core.models import User

    st = state(app)
    agent_info = create_user(app, "agent")
    with st.db.session() as s:
        agent, user = s.get(User, agent_info.id), s.get(User, author(app, days=30).id)
    thread = create_thread(st, agent, "Welcome", "<p>hi</p>")
    for i in range(5):
        reply = create_reply(st, user, thread.id, f"<p>reply {i}</p>")
        assert reply.status == "pending" and f"{i} published" in reply.reasons[0][1]
        decide(st, agent, reply.id, True)
    assert create_reply(st, user, thread.id, "<p>now trusted</p>").status == "published"


def test_userinfo_is_never_modified(app):
    who = author(app, days=1)
    before = replace(who)
    vote(app, who)
    assert who == before
