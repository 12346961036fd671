"""``moderation_newusers``: hold community posts by new users until a moderator approves them.

A user is *new* while their account is younger than ``plugins.moderation_newusers.min_account_age_days``
(default 7) OR they have fewer than ``plugins.moderation_newusers.min_published_replies`` (default 5)
published replies. Only active when the core setting ``security.moderate_new_users`` is on. Staff
(agents, managers, admins) are never held. The reason names the rule(s) that applied.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core import PluginContext, PostInfo, Role, SettingSpec, UserInfo, Verdict, hookimpl

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
NAME = "moderation_newusers"
AGE_KEY = f"plugins.{NAME}.min_account_age_days"
REPLIES_KEY = f"plugins.{NAME}.min_published_replies"
STAFF = Role.at_least(Role.AGENT)


@hookimpl
def settings_schema() -> list[SettingSpec]:
    """The two thresholds, on the Settings page's "Community" tab."""
    return [
        SettingSpec(AGE_KEY, "int", 7, "Account age before posts skip moderation (days)",
                    "Posts by accounts younger than this wait for approval when 'Moderate new user community "
                    "posts' is on. 0 turns the age rule off.", tab="Community", minimum=0, maximum=3650),
        SettingSpec(REPLIES_KEY, "int", 5, "Published replies before posts skip moderation",
                    "Posts by users with fewer published replies wait for approval. 0 turns the rule off.",
                    tab="Community", minimum=0, maximum=10000),
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@hookimpl
def moderation_check(author: UserInfo, post: PostInfo, ctx: PluginContext) -> Verdict | None:
    """Hold posts of new users while ``security.moderate_new_users`` is on; abstain otherwise."""
    if not ctx.setting("security.moderate_new_users") or author.role in STAFF:
        return None
    min_days = int(ctx.setting(AGE_KEY))
    min_replies = int(ctx.setting(REPLIES_KEY))
    reasons = []
    age = datetime.now(UTC) - author.created_at
    if min_days and age.total_seconds() < min_days * 86400:
        reasons.append(f"account is {_plural(age.days, 'day')} old (posts skip moderation after "
                       f"{_plural(min_days, 'day')})")
    if min_replies and post.author_reply_count < min_replies:
        count = post.author_reply_count
        reasons.append(f"{count} published {'reply' if count == 1 else 'replies'} "
                       f"(posts skip moderation from {min_replies})")
    if not reasons:
        return None
    return Verdict.hold("New user: " + "; ".join(reasons))
