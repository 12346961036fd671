"""Combine every plugin's ``moderation_check`` vote: reject > hold > allow, keeping each reason."""

from __future__ import annotations

import logging

from core.app_state import AppState
from core.types import ModerationDecision, PostInfo, UserInfo, Verdict, VerdictAction

log = logging.getLogger("plugdesk.moderation")


def moderate(state: AppState, author: UserInfo, post: PostInfo) -> ModerationDecision:
    """Ask every moderation plugin; the strongest action wins. A failing plugin holds the post (fail safe)."""
    decision = ModerationDecision(action=VerdictAction.ALLOW)
    state.host.trace("moderation_check", {"author": author, "post": post})
    for impl in state.host.impls("moderation_check"):
        try:
            verdict = state.host.call_impl(impl, author=author, post=post, ctx=state.ctx)
        except Exception:
            log.exception("moderation plugin %s raised; holding the post", impl.plugin_name)
            verdict = Verdict.hold(f"moderation plugin {impl.plugin_name} failed")
        if verdict is None:
            continue
        if verdict.reason:
            decision.reasons.append((impl.plugin_name, verdict.reason))
        decision.action = max(decision.action, verdict.action)
    return decision
