"""``ModerationContract``: what every ``moderation_check`` plugin guarantees.

Subclass it, name the plugin and provide two fixtures, each returning ``(author, post)``:

* ``flagged`` - a post your rule must hold or reject;
* ``clean`` - a post your rule must let through (allow, or abstain with ``None``).

Build authors with :meth:`ModerationContract.author` (a real account, optionally backdated)::

    from core.testing import ModerationContract
    from core.types import PostInfo

    class TestLinkLimit(ModerationContract):
        plugin_name = "link_limit"
        staff_exempt = True

        @pytest.fixture
        def flagged(self, app):
            return self.author(app), PostInfo("thread", "Deals", '<a href="x">1</a>' * 5)

        @pytest.fixture
        def clean(self, app):
            return self.author(app), PostInfo("thread", "Hello", "<p>no links</p>")

Set ``staff_exempt = True`` if agents, managers and admins are never held by your rule; ``settings`` (a dict of
runtime settings) is applied before every test, e.g. ``{"security.moderate_new_users": True}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.contracts import PluginUnderTest
from core.types import PostInfo, PostStatus, Role, UserInfo, Verdict, VerdictAction

Sample = tuple[UserInfo, PostInfo]


class ModerationContract(PluginUnderTest):
    """Pytest class suite for moderation plugins (not collected itself; subclasses are)."""

    #: agents, managers and admins are never held or rejected by this plugin
    staff_exempt: bool = False
    #: runtime settings applied before each test (e.g. switching the feature on)
    settings: Mapping[str, Any] = {}

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def flagged(self, app: Any) -> Sample:
        """``(author, post)`` the plugin must hold or reject."""
        raise NotImplementedError("subclass ModerationContract and provide a `flagged` fixture")

    @pytest.fixture
    def clean(self, app: Any) -> Sample:
        """``(author, post)`` the plugin must let through."""
        raise NotImplementedError("subclass ModerationContract and provide a `clean` fixture")

    @pytest.fixture(autouse=True)
    def _apply_settings(self, request: pytest.FixtureRequest) -> None:
        if self.settings and "app" in request.fixturenames:
            self.state(request.getfixturevalue("app")).runtime.patch(dict(self.settings), actor="contract")

    # ------------------------------------------------------------------ helpers
    def author(self, app: Any, role: str = "user", days_old: float = 0, verified: bool = True) -> UserInfo:
        """A real account of ``role`` created ``days_old`` days ago."""
        from core.models import User
        from core.testing import create_user
        from core.users import to_info

        info = create_user(app, role, verified=verified)
        with self.state(app).db.session() as s:
            user = s.get(User, info.id)
            user.created_at = datetime.now(UTC) - timedelta(days=days_old)
            return to_info(user)

    def vote(self, app: Any, author: UserInfo, post: PostInfo) -> Verdict | None:
        """The plugin's own vote; checks its type and that hold/reject carry a reason."""
        verdict = self.call(app, "moderation_check", author=author, post=post)
        assert verdict is None or isinstance(verdict, Verdict), f"returned {type(verdict).__name__}"
        if verdict is not None:
            assert isinstance(verdict.action, VerdictAction)
            if verdict.action is not VerdictAction.ALLOW:
                assert isinstance(verdict.reason, str) and verdict.reason.strip(), \
                    "hold and reject need a reason moderators can read"
        return verdict

    # ------------------------------------------------------------------ the contract
    def test_flagged_post_is_held_or_rejected_with_a_reason(self, app: Any, flagged: Sample) -> None:
        verdict = self.vote(app, *flagged)
        assert verdict is not None and verdict.action in (VerdictAction.HOLD, VerdictAction.REJECT), verdict

    def test_clean_post_passes(self, app: Any, clean: Sample) -> None:
        verdict = self.vote(app, *clean)
        assert verdict is None or verdict.action is VerdictAction.ALLOW, verdict

    def test_core_combines_the_vote_and_keeps_the_reason(self, app: Any, flagged: Sample, clean: Sample) -> None:
        from core.moderation import moderate, status_for

        with app.app_context():
            held = moderate(self.state(app), *flagged)
            passed = moderate(self.state(app), *clean)
        assert status_for(held) in (PostStatus.PENDING, PostStatus.REJECTED)
        assert any(plugin == self.plugin_name and reason.strip() for plugin, reason in held.reasons)
        assert status_for(passed) == PostStatus.PUBLISHED

    def test_same_input_same_verdict(self, app: Any, flagged: Sample, clean: Sample) -> None:
        for sample in (flagged, clean):
            assert self.vote(app, *sample) == self.vote(app, *sample)

    @pytest.mark.parametrize("kind", ["empty", "huge", "unicode", "reply", "markup"])
    def test_odd_posts_get_a_well_formed_vote(self, app: Any, flagged: Sample, kind: str) -> None:
        author = flagged[0]
        post = {"empty": PostInfo("thread", "", ""),
                "huge": PostInfo("thread", "t" * 500, "<p>" + "word " * 60_000 + "</p>"),
                "unicode": PostInfo("thread", "Ωμέγα ✓", "<p>ünïcödé \u202e text \U0001f600</p>"),
                "reply": PostInfo("reply", "", "<p>a reply</p>", author_reply_count=3),
                "markup": PostInfo("thread", "<script>x</script>", '<a href="javascript:x">&lt;b&gt;</a>')}[kind]
        self.vote(app, author, post)  # type and reason checks are in vote()

    @pytest.mark.parametrize("role", Role.at_least(Role.AGENT))
    def test_staff(self, app: Any, flagged: Sample, role: str) -> None:
        if not self.staff_exempt:
            pytest.skip("staff_exempt = False: the rule applies to staff too")
        staff = self.author(app, role, days_old=0)
        verdict = self.vote(app, staff, flagged[1])
        assert verdict is None or verdict.action is VerdictAction.ALLOW, f"{role} was held: {verdict}"
