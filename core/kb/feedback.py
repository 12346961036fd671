""""Was this article helpful?": one vote per user or browser per article, rate limited, IP blacklist.

Order of checks (so that a refused address leaves no trace): the article must be readable, then the
client address (``server.trusted_proxies`` already applied by ProxyFix) must not be in
``security.ip_blacklist``, then the per-address rate limit, then the one-vote rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.app_state import AppState
from core.kb.models import KbFeedback
from core.kb.service import visible_article
from core.security.validators import ip_in_list

MAX_COMMENT = 2000
RATE_LIMIT = 20  # votes per address per window
RATE_WINDOW = 3600
BLACKLIST_MESSAGE = "Thank you for your interest. Feedback cannot be accepted from your network."


@dataclass
class FeedbackOutcome:
    """The result of a vote: ``status`` is ``ok``, ``refused``, ``rate_limited``, ``duplicate``,
    ``not_found`` or ``invalid``; ``message`` is polite text for the reader."""

    status: str
    message: str
    http_status: int

    @property
    def ok(self) -> bool:
        """Whether the vote was stored."""
        return self.status == "ok"


@dataclass
class FeedbackSummary:
    """Counts and comments of one article (what admins see)."""

    helpful: int = 0
    not_helpful: int = 0
    comments: list[dict[str, Any]] = field(default_factory=list)


def browser_voter(token: str) -> str:
    """The voter key of an anonymous browser (only a hash of its cookie token is stored)."""
    return "b:" + hashlib.sha256(token.encode()).hexdigest()


def user_voter(user_id: int) -> str:
    """The voter key of a logged-in user."""
    return f"u:{user_id}"


def is_blacklisted(st: AppState, remote_addr: str) -> bool:
    """Whether ``remote_addr`` falls in ``security.ip_blacklist`` (IPv4, IPv6, CIDR, IPv4-mapped)."""
    return ip_in_list(remote_addr, st.runtime.get("security.ip_blacklist") or [])


def record_feedback(st: AppState, *, article_id: int, voter: str, user: Any, helpful: Any, comment: Any,
                    remote_addr: str) -> FeedbackOutcome:
    """Validate and store one vote."""
    with st.db.session() as s:
        if visible_article(s, article_id, user) is None:
            return FeedbackOutcome("not_found", "No such article.", 404)
    if is_blacklisted(st, remote_addr):
        return FeedbackOutcome("refused", BLACKLIST_MESSAGE, 403)
    if not isinstance(helpful, bool):
        return FeedbackOutcome("invalid", "Choose yes or no.", 422)
    comment = comment if isinstance(comment, str) else ""
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        return FeedbackOutcome("invalid", f"Please keep the comment under {MAX_COMMENT} characters.", 422)
    if st.ctx.limits.hit(f"kb-feedback:{remote_addr}", RATE_WINDOW) > RATE_LIMIT:
        return FeedbackOutcome("rate_limited", "You have sent a lot of feedback recently. Please try again "
                                               "later.", 429)
    try:
        with st.db.session() as s:
            if s.scalar(select(KbFeedback.id).where(KbFeedback.article_id == article_id,
                                                    KbFeedback.voter == voter)) is not None:
                return FeedbackOutcome("duplicate", "You have already rated this article. Thank you!", 409)
            s.add(KbFeedback(article_id=article_id, voter=voter, user_id=getattr(user, "id", None),
                             helpful=helpful, comment=comment))
    except IntegrityError:  # a concurrent second vote from the same voter
        return FeedbackOutcome("duplicate", "You have already rated this article. Thank you!", 409)
    return FeedbackOutcome("ok", "Thank you for your feedback!", 201)


def has_voted(st: AppState, article_id: int, voter: str | None) -> bool:
    """Whether ``voter`` already rated the article."""
    if not voter:
        return False
    with st.db.session() as s:
        return s.scalar(select(KbFeedback.id).where(KbFeedback.article_id == article_id,
                                                    KbFeedback.voter == voter)) is not None


def summary(st: AppState, article_id: int) -> FeedbackSummary:
    """Yes/no counts and every comment, newest first."""
    out = FeedbackSummary()
    with st.db.session() as s:
        for helpful, count in s.execute(select(KbFeedback.helpful, func.count()).where(
                KbFeedback.article_id == article_id).group_by(KbFeedback.helpful)):
            if helpful:
                out.helpful = int(count)
            else:
                out.not_helpful = int(count)
        for fb in s.scalars(select(KbFeedback).where(KbFeedback.article_id == article_id, KbFeedback.comment != "")
                            .order_by(KbFeedback.created_at.desc())):
            out.comments.append({"helpful": fb.helpful, "comment": fb.comment, "created_at": fb.created_at,
                                 "user_id": fb.user_id})
    return out


def counts(st: AppState) -> dict[int, tuple[int, int]]:
    """``{article_id: (helpful, not_helpful)}`` for every rated article."""
    out: dict[int, list[int]] = {}
    with st.db.session() as s:
        for article_id, helpful, count in s.execute(select(KbFeedback.article_id, KbFeedback.helpful, func.count())
                                                    .group_by(KbFeedback.article_id, KbFeedback.helpful)):
            out.setdefault(article_id, [0, 0])[0 if helpful else 1] = int(count)
    return {k: (v[0], v[1]) for k, v in out.items()}
