"""Community moderation: the post under review, plugin votes and core's combined decision.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PostInfo:
    """A community post submitted for moderation (a new thread, a reply, or an edit of either).

    Attributes:
        kind: ``"thread"`` (starts a thread, has a title) or ``"reply"`` (title empty).
        title: the thread's title as plain text, whitespace collapsed, at most 300 characters (``""`` for a
            reply). Not HTML: escape it if you put it in a page.
        body_html: the post's HTML **after** core's sanitizer (nh3 with the KB allow-list: no scripts,
            event handlers or ``style`` attributes; URLs only ``http``, ``https``, ``mailto`` or relative;
            links carry ``rel="noopener noreferrer nofollow"``), exactly what readers will be shown. Safe to
            display; still markup, so match words on the text (strip the tags) or on ``href`` values as your
            rule needs. At most 100,000 characters.
        author_reply_count: how many published replies the author has written so far (a measure of trust).
    """

    kind: str
    title: str
    body_html: str
    author_reply_count: int = 0


class VerdictAction(enum.IntEnum):
    """Moderation actions, ordered so that the strongest wins: reject > hold > allow.

    Attributes:
        ALLOW: publish the post at once (as if no plugin had voted).
        HOLD: keep the post pending until a moderator approves or rejects it.
        REJECT: refuse the post; it is kept as rejected for moderators and never shown to readers.
    """

    ALLOW = 0
    HOLD = 1
    REJECT = 2


@dataclass(frozen=True)
class Verdict:
    """A moderation plugin's vote with the reason moderators will see.

    Build it with :meth:`allow`, :meth:`hold` or :meth:`reject`; return ``None`` to abstain.

    Attributes:
        action: what the plugin votes for (:class:`VerdictAction`).
        reason: one line for moderators (shown in the moderation queue with the plugin's name), e.g.
            ``"5 links (limit 3)"``; required for hold and reject.
    """

    action: VerdictAction
    reason: str = ""

    @classmethod
    def allow(cls, reason: str = "") -> Verdict:
        """Publish the post."""
        return cls(VerdictAction.ALLOW, reason)

    @classmethod
    def hold(cls, reason: str) -> Verdict:
        """Keep the post for a moderator's approval."""
        return cls(VerdictAction.HOLD, reason)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        """Refuse the post."""
        return cls(VerdictAction.REJECT, reason)


@dataclass
class ModerationDecision:
    """Core's combination of every plugin's vote (the strongest action, with all reasons). Mutable.

    Attributes:
        action: the strongest action voted (``ALLOW`` when no plugin voted).
        reasons: ``(plugin name, reason)`` of every vote that gave one, in the order the plugins were called.
    """

    action: VerdictAction
    reasons: list[tuple[str, str]] = field(default_factory=list)
