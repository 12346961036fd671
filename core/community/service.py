"""Community operations shared by the portal, the management pages and the API.

Every new post (and every edit by a non-moderator) goes through :func:`core.moderation.moderate`; the
combined decision sets its status. Held posts are visible to their author (marked pending) and to
moderators (agents and above) only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core.app_state import AppState
from core.auth.verification import verified_email_required
from core.community.models import CommunityCategory, CommunityPost
from core.kb.sanitize import html_to_text, sanitize_html
from core.kb.service import drop_file_references, iso
from core.models import User, utcnow
from core.moderation import moderate, status_for
from core.types import PostInfo, PostStatus, Role
from core.users import to_info

log = logging.getLogger("plugdesk.community")
EDIT_WINDOW = timedelta(minutes=30)
MAX_TITLE = 300
MAX_BODY = 100_000
OWNER_TYPE = "community_post"


class CommunityError(ValueError):
    """A refused community action; ``field`` names the input, ``status`` the HTTP status to answer."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def is_moderator(user: Any) -> bool:
    """Agents, managers and admins moderate."""
    return user is not None and user.role in (Role.AGENT, Role.MANAGER, Role.ADMIN)


def can_see(post: CommunityPost, user: Any) -> bool:
    """Published posts are public; pending and rejected ones are for their author and moderators."""
    if post.status == PostStatus.PUBLISHED:
        return True
    return user is not None and (post.author_id == user.id or is_moderator(user))


def published_reply_count(session: Session, user_id: int) -> int:
    """How many published replies a user has written (fed to moderation plugins)."""
    return session.scalar(select(func.count()).select_from(CommunityPost).where(
        CommunityPost.author_id == user_id, CommunityPost.kind == "reply",
        CommunityPost.status == PostStatus.PUBLISHED)) or 0


def _clean(title: str | None, body_html: str, kind: str) -> tuple[str, str]:
    title = " ".join((title or "").split())
    if kind == "thread" and not title:
        raise CommunityError("title", "Give your thread a title.")
    if len(title) > MAX_TITLE:
        raise CommunityError("title", f"The title is longer than {MAX_TITLE} characters.")
    if len(body_html or "") > MAX_BODY:
        raise CommunityError("body", f"The text is longer than {MAX_BODY} characters.")
    body = sanitize_html(body_html)
    if not html_to_text(body) and "<img" not in body:
        raise CommunityError("body", "Write something first.")
    return title, body


def _decide(st: AppState, session: Session, author: User, post: CommunityPost) -> None:
    info = PostInfo(kind=post.kind, title=post.title, body_html=post.body_html,
                    author_reply_count=published_reply_count(session, author.id))
    decision = moderate(st, to_info(author), info)
    post.status = status_for(decision)
    post.reasons = [[plugin, reason] for plugin, reason in decision.reasons]
    post.moderated_by = post.moderated_at = None


def _require_verified(st: AppState, author: User) -> None:
    message = verified_email_required(st, to_info(author))
    if message:
        raise CommunityError("body", message, 403)


def create_thread(st: AppState, author: User, title: str, body_html: str,
                  category_id: int | None = None) -> CommunityPost:
    """Start a thread; moderation decides whether it is published, pending or rejected."""
    _require_verified(st, author)
    title, body = _clean(title, body_html, "thread")
    with st.db.session() as s:
        if category_id is not None and s.get(CommunityCategory, category_id) is None:
            raise CommunityError("category_id", "That category does not exist.")
        post = CommunityPost(kind="thread", title=title, body_html=body, author_id=author.id,
                             category_id=category_id)
        _decide(st, s, author, post)
        s.add(post)
        s.flush()
        if post.status == PostStatus.REJECTED:
            drop_file_references(st, OWNER_TYPE, post.id, s)
    return post


def create_reply(st: AppState, author: User, thread_id: int, body_html: str) -> CommunityPost:
    """Reply to a thread the author can see (published threads; moderators and authors also pending)."""
    _require_verified(st, author)
    _title, body = _clean("", body_html, "reply")
    with st.db.session() as s:
        thread = s.get(CommunityPost, thread_id)
        if thread is None or thread.kind != "thread" or not can_see(thread, author):
            raise CommunityError("thread_id", "No such thread.", 404)
        if thread.status == PostStatus.REJECTED:
            raise CommunityError("thread_id", "This thread was rejected; it takes no replies.", 409)
        post = CommunityPost(kind="reply", thread_id=thread.id, body_html=body, author_id=author.id)
        _decide(st, s, author, post)
        s.add(post)
        s.flush()
        if post.status == PostStatus.REJECTED:
            drop_file_references(st, OWNER_TYPE, post.id, s)
    return post


def can_edit(post: CommunityPost, user: Any, now: datetime | None = None) -> bool:
    """Moderators always; authors within :data:`EDIT_WINDOW` of posting (not once rejected)."""
    if is_moderator(user):
        return True
    if user is None or post.author_id != user.id or post.status == PostStatus.REJECTED:
        return False
    return (now or utcnow()) - post.created_at <= EDIT_WINDOW


def edit_post(st: AppState, user: User, post_id: int, body_html: str, title: str | None = None) -> CommunityPost:
    """Change a post's text; an author's edit is moderated again (moderators' edits are not)."""
    with st.db.session() as s:
        post = s.get(CommunityPost, post_id)
        if post is None or not can_see(post, user):
            raise CommunityError("id", "No such post.", 404)
        if not can_edit(post, user):
            raise CommunityError("id", "The time to edit this post has passed.", 403)
        new_title, body = _clean(title if post.kind == "thread" and title is not None else post.title,
                                 body_html, post.kind)
        post.title, post.body_html, post.updated_at = new_title, body, utcnow()
        if not is_moderator(user):
            _decide(st, s, user, post)
    return post


def can_delete(post: CommunityPost, user: Any) -> bool:
    """Authors and moderators may delete."""
    return user is not None and (post.author_id == user.id or is_moderator(user))


def delete_post(st: AppState, user: Any, post_id: int) -> CommunityPost:
    """Delete a post (a thread with its replies), dropping file references in the same transaction."""
    with st.db.session() as s:
        post = s.get(CommunityPost, post_id)
        if post is None or not can_see(post, user):
            raise CommunityError("id", "No such post.", 404)
        if not can_delete(post, user):
            raise CommunityError("id", "Only the author or a moderator can delete this post.", 403)
        victims = [post]
        if post.kind == "thread":
            victims += list(s.scalars(select(CommunityPost).where(CommunityPost.thread_id == post.id)))
        for victim in victims:
            drop_file_references(st, OWNER_TYPE, victim.id, s)
        if post.kind == "thread":
            s.execute(delete(CommunityPost).where(CommunityPost.thread_id == post.id))
        s.delete(post)
    return post


def visible_filter(user: Any) -> Any:
    """A WHERE clause selecting the posts ``user`` may see."""
    if is_moderator(user):
        return CommunityPost.id.is_not(None)
    if user is None:
        return CommunityPost.status == PostStatus.PUBLISHED
    return or_(CommunityPost.status == PostStatus.PUBLISHED, CommunityPost.author_id == user.id)


def list_threads(session: Session, user: Any, *, limit: int = 50, offset: int = 0,
                 category_id: int | None = None) -> tuple[list[CommunityPost], int]:
    """Threads ``user`` may see, newest first, and their total."""
    stmt = select(CommunityPost).where(CommunityPost.kind == "thread", visible_filter(user))
    if category_id is not None:
        stmt = stmt.where(CommunityPost.category_id == category_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(CommunityPost.created_at.desc(), CommunityPost.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total)


def replies(session: Session, thread_id: int, user: Any) -> list[CommunityPost]:
    """Replies of a thread that ``user`` may see, oldest first."""
    return list(session.scalars(select(CommunityPost).where(CommunityPost.thread_id == thread_id,
                                                            visible_filter(user))
                                .order_by(CommunityPost.created_at, CommunityPost.id)))


def queue(session: Session, limit: int = 200) -> list[CommunityPost]:
    """Pending posts, oldest first (the moderation queue)."""
    return list(session.scalars(select(CommunityPost).where(CommunityPost.status == PostStatus.PENDING)
                                .order_by(CommunityPost.created_at, CommunityPost.id).limit(limit)))


def decide(st: AppState, moderator: User, post_id: int, approve: bool, message: str = "") -> CommunityPost:
    """Approve (publish) or reject a pending post; the author gets an email with the optional message.

    Rejecting drops the post's file references.
    """
    message = (message or "").strip()[:2000]
    with st.db.session() as s:
        post = s.get(CommunityPost, post_id)
        if post is None:
            raise CommunityError("id", "No such post.", 404)
        if post.status != PostStatus.PENDING:
            raise CommunityError("id", f"This post is not waiting for moderation (it is {post.status}).", 409)
        post.status = PostStatus.PUBLISHED if approve else PostStatus.REJECTED
        post.moderator_message, post.moderated_by, post.moderated_at = message, moderator.id, utcnow()
        if not approve:
            drop_file_references(st, OWNER_TYPE, post.id, s)
        author = s.get(User, post.author_id) if post.author_id else None
        thread = s.get(CommunityPost, post.thread_id) if post.thread_id else None
        thread_title = post.title or (thread.title if thread is not None else "")
        if author is not None and author.email:
            _notify(st, s, author, thread_title, approve, message, post.id, post.thread_id or post.id)
    return post


def thread_url(st: AppState, thread_id: int, post_id: int | None = None) -> str:
    """The absolute address of a thread (``server.base_url``), at one post when ``post_id`` is a reply."""
    base = st.settings.get("server", "base_url").rstrip("/")
    anchor = f"#post-{post_id}" if post_id is not None and post_id != thread_id else ""
    return f"{base}/community/t/{thread_id}{anchor}"


def _notify(st: AppState, session: Session, author: User, title: str, approved: bool, message: str,
            post_id: int, thread_id: int) -> None:
    """Queue the author's notice in the decision's own transaction (sent by the background worker)."""
    from core.outbox.service import enqueue

    verb = "approved and published" if approved else "not accepted"
    body = f"Hello {author.display_name or author.username},\n\nyour community post in \"{title}\" was {verb}.\n"
    if approved:
        body += f"\nRead it in the thread: {thread_url(st, thread_id, post_id)}\n"
    if message:
        body += f"\nMessage from the moderator:\n{message}\n"
    enqueue(session, st.settings, to=author.email, to_name=author.display_name or author.username,
            subject=f"Your community post was {verb}", text=body, related=f"community_post:{post_id}")


def names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    """Display names by user id."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(ids)))}


def post_json(post: CommunityPost, *, with_reasons: bool = False) -> dict[str, Any]:
    """The API shape of a thread or reply."""
    out: dict[str, Any] = {"id": post.id, "kind": post.kind, "body_html": sanitize_html(post.body_html),
                           "status": post.status, "author_id": post.author_id, "created_at": iso(post.created_at),
                           "updated_at": iso(post.updated_at)}
    if post.kind == "thread":
        out.update(title=post.title, category_id=post.category_id)
    else:
        out["thread_id"] = post.thread_id
    if post.moderator_message:
        out["moderator_message"] = post.moderator_message
    if with_reasons:
        out["reasons"] = [{"plugin": p, "reason": r} for p, r in (post.reasons or [])]
    return out
