"""Combining moderation votes: every ``moderation_check`` implementation votes, core decides.

The strongest action wins (reject > hold > allow, see :class:`core.types.VerdictAction`) and every
plugin's non-empty reason is kept, so moderators see why a post waits. A plugin that raises does not
let a post through unreviewed: its failure counts as a *hold* with the error as reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.app_state import AppState
from core.types import ModerationDecision, PostInfo, PostStatus, UserInfo, Verdict, VerdictAction

log = logging.getLogger("plugdesk.moderation")


def combine(votes: Iterable[tuple[str, Verdict | None]]) -> ModerationDecision:
    """Combine ``(plugin name, verdict or None)`` pairs: strongest action, all reasons in plugin order.

    No votes (or only abstentions) means *allow*.
    """
    decision = ModerationDecision(action=VerdictAction.ALLOW)
    for plugin, verdict in votes:
        if verdict is None:
            continue
        if not isinstance(verdict, Verdict):
            verdict = Verdict.hold(f"returned {type(verdict).__name__}, not a Verdict; held for review")
        decision.action = max(decision.action, VerdictAction(verdict.action))
        if verdict.reason:
            decision.reasons.append((plugin, verdict.reason))
    return decision


def collect_votes(st: AppState, author: UserInfo, post: PostInfo) -> list[tuple[str, Verdict | None]]:
    """Ask every enabled plugin's ``moderation_check`` (in plugin order); failures become holds."""
    def failed(plugin: str, exc: Exception) -> Verdict:
        log.error("moderation plugin %s failed; holding the post", plugin)
        return Verdict.hold(f"the moderation check failed ({exc.__class__.__name__}); held for review")

    return st.host.vote("moderation_check", failed, author=author, post=post, ctx=st.ctx)


def moderate(st: AppState, author: UserInfo, post: PostInfo) -> ModerationDecision:
    """The combined decision of every moderation plugin for one post."""
    return combine(collect_votes(st, author, post))


def status_for(decision: ModerationDecision) -> PostStatus:
    """The post status a decision leads to: ``published``, ``pending`` or ``rejected``."""
    return {VerdictAction.ALLOW: PostStatus.PUBLISHED, VerdictAction.HOLD: PostStatus.PENDING,
            VerdictAction.REJECT: PostStatus.REJECTED}[decision.action]
