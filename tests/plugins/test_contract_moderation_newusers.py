"""moderation_newusers passes the ModerationContract."""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import ModerationContract
from core.types import PostInfo


class TestModerationNewUsersContract(ModerationContract):
    plugin_name = "moderation_newusers"
    staff_exempt = True
    settings = {"security.moderate_new_users": True}

    @pytest.fixture
    def flagged(self, app: Any) -> tuple[Any, PostInfo]:
        return self.author(app, days_old=1), PostInfo("thread", "Hi", "<p>first post</p>", author_reply_count=0)

    @pytest.fixture
    def clean(self, app: Any) -> tuple[Any, PostInfo]:
        return self.author(app, days_old=30), PostInfo("thread", "Hi", "<p>regular</p>", author_reply_count=12)


class TestModerationSwitchedOff(TestModerationNewUsersContract):
    """With ``security.moderate_new_users`` off the plugin abstains: the flagged sample becomes clean."""

    settings = {"security.moderate_new_users": False}

    def test_flagged_post_is_held_or_rejected_with_a_reason(self, app: Any, flagged: Any) -> None:
        assert self.vote(app, *flagged) is None

    def test_core_combines_the_vote_and_keeps_the_reason(self, app: Any, flagged: Any, clean: Any) -> None:
        from core.moderation import moderate, status_for

        assert status_for(moderate(self.state(app), *flagged)) == "published"
