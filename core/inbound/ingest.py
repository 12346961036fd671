"""One email into a ticket or a reply - or a recorded refusal with its reason. Idempotent on ``(source, uid)``.

The ``inbound_mail`` row is written in the transaction that creates the ticket or the reply, so "the row
exists" means "done": a message delivered again is acknowledged without being ingested twice, and a
concurrent worker that lost the race rolls back (the unique key refuses its row). Attachments are staged
through the files service *before* the write transaction (as the web forms do) with the end users' rules:
the sender of an email is not authenticated, whoever the From line names.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.inbound.models import InboundMail
from core.inbound.parse import ParsedMail, parse
from core.inbound.rules import blocked, junk_reason
from core.inbound.threads import Target, email_key, find_target, find_user, is_customer, is_department_agent
from core.models import User, utcnow
from core.outbox.models import OutboxMessage
from core.outbox.service import joining
from core.tickets.info import emit, message_info, ticket_infos
from core.tickets.models import Department, Ticket, TicketEvent, TicketMessage
from core.types import MailSource, StorageError, TicketStatus

if TYPE_CHECKING:  # pragma: no cover
    from core.app_state import AppState
    from core.types import InboundMessage

log = logging.getLogger("plugdesk.inbound")
MIB = 1024 * 1024
BODY_MAX = 50_000
OWNER_TYPE = "ticket_message"


class RetryLater(Exception):
    """The database or the file store failed: do not acknowledge; the next poll tries again."""


@dataclass
class Outcome:
    """What became of one email: ``ticket``, ``reply``, ``filed``, ``bounce``, ``refused`` or ``duplicate``."""

    outcome: str
    reason: str = ""
    ticket_id: int | None = None
    record_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _record(state: AppState, source: str, uid: str, mail: ParsedMail, size: int, outcome: str, reason: str,
            ticket_id: int | None = None, session: Session | None = None, message_id: int | None = None) -> Outcome:
    row = InboundMail(source=source, uid=uid, message_id=mail.message_id[:250], received_at=utcnow(),
                      sender=mail.sender[:320], subject=mail.subject[:300], size=size, outcome=outcome,
                      reason=reason, ticket_id=ticket_id, ticket_message_id=message_id,
                      notes=mail.problems[:50] or None)
    if session is not None:
        session.add(row)
        session.flush()
        return Outcome(outcome, reason, ticket_id, row.id)
    try:
        with state.db.session() as s:
            s.add(row)
            s.flush()
            return Outcome(outcome, reason, ticket_id, row.id)
    except IntegrityError:
        return Outcome("duplicate", "already ingested by another worker")


def _mark_bounced(state: AppState, mail: ParsedMail, source: str, uid: str, size: int) -> Outcome:
    bounce = mail.bounce
    assert bounce is not None
    with state.db.session() as s:
        rows = list(s.execute(select(OutboxMessage.id, OutboxMessage.ticket_id, OutboxMessage.to_addr)
                              .where(OutboxMessage.message_id.in_(bounce.original_ids))))
        if not rows:
            return _record(state, source, uid, mail, size, "filed", "a bounce of a message we did not send",
                           session=s)
        ticket_id = next((r.ticket_id for r in rows if r.ticket_id), None)
        if not bounce.permanent:
            return _record(state, source, uid, mail, size, "filed", f"delivery delayed ({bounce.status})",
                           ticket_id, session=s)
        detail = f"bounced ({bounce.status}): {bounce.diagnostic}"[:1000]
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                  .values(state="bounced", last_error=detail, updated_at=utcnow()))
        if ticket_id and s.get(Ticket, ticket_id) is not None:
            s.add(TicketEvent(ticket_id=ticket_id, at=utcnow(), actor="mail", kind="mail_bounced",
                              detail={"to": rows[0].to_addr, "status": bounce.status}))
        return _record(state, source, uid, mail, size, "bounce", detail, ticket_id, session=s)


def block_lists(state: AppState) -> tuple[list[str], list[str]]:
    """The sender block lists: the runtime setting (Settings › Security) and ``[inbound] block_senders``."""
    return list(state.runtime.get("security.blocked_senders")), list(state.settings.get("inbound", "block_senders"))


def static_reason(source: MailSource, mail: ParsedMail, lists: tuple[list[str], list[str]]) -> str | None:
    """Why ``mail`` is filed by the rules alone (loops, junk, no sender, block lists ``lists``), or ``None``."""
    reason = junk_reason(mail, [source.address])
    if reason:
        return reason
    if not mail.sender or not email_key(mail.sender):
        return "no usable sender address (From)"
    hit = blocked(mail.sender, lists[0])
    if hit:
        return f"sender blocked ({hit} in Settings › Security › IP Blacklist › Blocked email senders)"
    hit = blocked(mail.sender, lists[1])
    if hit:
        return f"sender blocked ({hit} in [inbound] block_senders)"
    return None


def _screen(state: AppState, source: MailSource, mail: ParsedMail, now: datetime) -> str | None:
    """Why ``mail`` is filed without a ticket (loops, junk, blocks, duplicates, rate limit), or ``None``."""
    reason = static_reason(source, mail, block_lists(state))
    if reason:
        return reason
    with state.db.session() as s:
        if mail.message_id:
            earlier = s.scalar(select(InboundMail.id).where(InboundMail.source == source.name,
                                                            InboundMail.message_id == mail.message_id).limit(1))
            if earlier:
                return f"same Message-ID as email #{earlier}, already ingested"
        limit = state.settings.get("inbound", "sender_limit_per_hour")
        recent = s.scalar(select(func.count()).select_from(InboundMail).where(
            InboundMail.sender == mail.sender, InboundMail.outcome.in_(("ticket", "reply")),
            InboundMail.received_at >= now - timedelta(hours=1)))
        if (recent or 0) >= limit:
            return f"more than {limit} emails from {mail.sender} in an hour ([inbound] sender_limit_per_hour)"
    return None


def _max_file_bytes(state: AppState) -> int:
    runtime = state.runtime
    key = "security.uploads.max_file_mb"
    if key in runtime.specs and runtime.get(key):
        return int(runtime.get(key)) * MIB
    return int(state.settings.get("server", "max_request_mb")) * MIB


def stage(state: AppState, mail: ParsedMail, raw: bytes, notes: list[str], store: bool = True) -> list[Any]:
    """Store the original ``.eml`` and the allowed attachments; refusals go to ``notes`` with the reason.

    ``store=False`` only hashes and checks them (the caller stores a batch with ``store_many``).
    """
    if state.storage is None:
        if mail.attachments:
            notes.append(f"{len(mail.attachments)} attachment(s) not stored: no file storage is enabled")
        return []
    from core.files.rules import UploadRejected
    from core.files.service import file_service

    service = file_service(state)
    allowed = list(state.runtime.get("security.uploads.user_extensions"))
    per_file = _max_file_bytes(state)
    most = state.settings.get("inbound", "max_attachments")
    staged: list[Any] = []
    try:
        staged.append(service.ingest(io.BytesIO(raw), "message.eml", allowed_extensions=None, max_bytes=None,
                                     store=store))
        for part in mail.attachments[:most]:
            try:
                staged.append(service.ingest(io.BytesIO(part.data), part.filename, allowed_extensions=allowed,
                                             max_bytes=per_file, store=store))
            except UploadRejected as exc:
                notes.append(f"Attachment {part.filename!r} was not accepted: {exc.message}")
    except StorageError as exc:
        for item in staged:
            item.cleanup()
        raise RetryLater(f"file storage: {exc}") from exc
    extra = max(0, len(mail.attachments) - most) + mail.extra_attachments
    if extra:
        notes.append(f"{extra} more attachment(s) were not stored: at most {most} per email "
                     "([inbound] max_attachments)")
    return staged


def _body(mail: ParsedMail, notes: list[str]) -> str:
    body = mail.text.strip() or "(This email had no text.)"
    if len(body) > BODY_MAX - 5000:
        body = body[:BODY_MAX - 5000] + "\n\n[The rest of this long email is in the original message.eml.]"
    if notes:
        body += "\n\n" + "\n".join(f"[{note}]" for note in notes[:20])
    return body[:BODY_MAX]


def _new_customer(state: AppState, s: Session, mail: ParsedMail) -> User | None:
    """An email-only account (no password; claimed later by a password reset), or ``None`` for a guest ticket."""
    from core.users import AccountError, normalize_email, normalize_username, validate_username

    provider = state.registration_provider()
    if provider is None:
        return None
    try:
        shown, key = normalize_email(mail.sender)
        username = validate_username(shown)
    except AccountError:
        return None
    user = User(username=username, username_key=normalize_username(username), email=shown, email_key=key,
                display_name=mail.sender_name or username, role="user", provider=provider.name,
                email_verified=False, created_at=utcnow())
    s.add(user)
    s.flush()
    return user


def _attach(state: AppState, s: Session, staged: list[Any], message_id: int) -> None:
    if staged:
        from core.files.service import file_service

        service = file_service(state)
        for item in staged:
            service.attach(s, OWNER_TYPE, message_id, item)


@dataclass
class _Written:
    ticket_id: int
    created: bool
    new_user: int | None = None
    message_id: int | None = None


def _write(state: AppState, s: Session, source: MailSource, mail: ParsedMail, target: Target | None,
           body: str, staged: list[Any]) -> tuple[_Written, str, str]:
    """Create the ticket or the reply in ``s``; ``(what was written, outcome, reason)``."""
    now = utcnow()
    sender = find_user(s, mail.sender)
    if sender is not None and not sender.is_active:
        raise _Refused("the sender's account is disabled")
    ticket = target.ticket if target else None
    if target is not None and ticket is not None and not ticket.locked:
        agent = is_department_agent(s, sender, ticket.department_id)
        customer = is_customer(s, ticket, mail.sender)
        from_agent = agent and not customer
        # The From line can be forged. An agent's email posts as the agent's reply (and notifies the customer)
        # only when it answers one of the ticket's unguessable Message-IDs; by subject token alone it is kept
        # as an internal note, so nobody can send the customer words in the agent's name by guessing [#ID].
        note = from_agent and target.via != "headers"
        name = (sender.display_name or sender.username) if sender else (
            f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender)
        msg = TicketMessage(ticket_id=ticket.id, author_id=sender.id if sender else None, author_name=name[:150],
                            from_agent=from_agent, internal=note, body=body, created_at=now)
        s.add(msg)
        s.flush()
        _attach(state, s, staged, msg.id)
        old = ticket.status
        if from_agent and not note:
            ticket.status, ticket.last_agent_reply_at = TicketStatus.WAITING, now
        elif not from_agent:
            ticket.status, ticket.last_customer_reply_at = TicketStatus.OPEN, now
        if old == TicketStatus.CLOSED and ticket.status != old:
            ticket.closed_at = None
            s.add(TicketEvent(ticket_id=ticket.id, at=now, actor=f"mail:{mail.sender}", kind="reopened",
                              detail={"from": old, "to": ticket.status}))
        ticket.updated_at = now
        s.add(TicketEvent(ticket_id=ticket.id, at=now, actor=f"mail:{mail.sender}", kind="note" if note else "replied",
                          detail={"message_id": msg.id, "by_email": True, "matched_by": target.via}))
        s.flush()
        with joining(s):  # notifications queued by plugins commit (or not) with the reply itself
            emit(state, "ticket_replied", ticket=ticket_infos(s, [ticket.id])[0], message=message_info(msg))
        who = "agent (kept as an internal note)" if note else "agent" if from_agent else \
            "customer" if customer else "third party"
        return _Written(ticket.id, False, message_id=msg.id), "reply", f"reply by the {who}, matched by {target.via}"
    dept = s.scalar(select(Department).where(Department.name == source.department))
    if dept is None:
        raise _Refused(f"the source's department {source.department!r} does not exist")
    new_user = None
    if sender is None:
        if source.accept_from == "registered":
            raise _Refused(f"{mail.sender} has no account (accept_from = registered)")
        sender = _new_customer(state, s, mail)
        new_user = sender.id if sender else None
    guest = "" if sender else mail.sender
    subject = mail.subject[:200].strip() or "(no subject)"
    ticket = Ticket(subject=subject, department_id=dept.id, customer_id=sender.id if sender else None,
                    guest_email=guest, status=TicketStatus.OPEN, locked=False, created_at=now, updated_at=now,
                    last_customer_reply_at=now)
    s.add(ticket)
    s.flush()
    name = (sender.display_name or sender.username) if sender else mail.sender
    msg = TicketMessage(ticket_id=ticket.id, author_id=sender.id if sender else None, author_name=name[:150],
                        from_agent=False, internal=False, body=body, created_at=now)
    s.add(msg)
    s.flush()
    _attach(state, s, staged, msg.id)
    s.add(TicketEvent(ticket_id=ticket.id, at=now, actor=f"mail:{mail.sender}", kind="created",
                      detail={"department": dept.name, "by_email": True, "source": source.name}))
    reason = f"new ticket in {dept.name}"
    if target is not None:  # it answered a locked or deleted ticket: link the two and say why
        why = "is locked" if target.ticket is not None else "was deleted"
        s.add(TicketMessage(ticket_id=ticket.id, author_name="plugdesk", from_agent=True, internal=True,
                            body=f"This email answered ticket #{target.ticket_id}, which {why}; it opened this "
                                 "new ticket instead.", created_at=now))
        s.add(TicketEvent(ticket_id=ticket.id, at=now, actor="mail", kind="linked",
                          detail={"ticket": target.ticket_id, "reason": why}))
        if target.ticket is not None:
            s.add(TicketEvent(ticket_id=target.ticket_id, at=now, actor="mail", kind="followed_up",
                              detail={"ticket": ticket.id}))
        reason += f", linked to #{target.ticket_id} (which {why})"
    return _Written(ticket.id, True, new_user, msg.id), "ticket", reason


class _Refused(Exception):
    """The email is refused (recorded with this reason and acknowledged)."""


def ingest(state: AppState, source: MailSource, message: InboundMessage, now: datetime | None = None) -> Outcome:
    """Turn one fetched email into a ticket, a reply, or a recorded refusal; never ingest it twice.

    :raises RetryLater: the database or the file store failed; leave the message unacknowledged.
    """
    now = now or utcnow()
    uid = str(message.uid)[:250]
    size = max(message.size, len(message.raw))
    with state.db.session() as s:
        done = s.scalar(select(InboundMail).where(InboundMail.source == source.name, InboundMail.uid == uid))
        if done is not None:
            return Outcome("duplicate", "already ingested", done.ticket_id, done.id)
    max_mb = state.settings.get("inbound", "max_message_mb")
    if message.truncated or size > max_mb * MIB:
        mail = parse(message.raw, headers_only=True)
        return _record(state, source.name, uid, mail, size, "refused",
                       f"the email is {size:,} bytes, larger than the limit of {max_mb} MiB "
                       "([inbound] max_message_mb); not stored, no bounce sent")
    mail = parse(message.raw, max_attachments=state.settings.get("inbound", "max_attachments"))
    if mail.bounce is not None:
        return _mark_bounced(state, mail, source.name, uid, size)
    reason = _screen(state, source, mail, now)
    if reason:
        return _record(state, source.name, uid, mail, size, "filed", reason)
    with state.db.session() as s:
        target = find_target(s, mail, state.ctx.secret_key)
    notes: list[str] = []
    staged = stage(state, mail, message.raw, notes)
    try:
        with state.db.session() as s:
            if target is not None:  # read again in this transaction (it may have been locked meanwhile)
                target = Target(target.ticket_id, s.get(Ticket, target.ticket_id), target.via)
            written, outcome, reason = _write(state, s, source, mail, target, _body(mail, notes), staged)
            result = _record(state, source.name, uid, mail, size, outcome, reason, written.ticket_id, session=s,
                             message_id=written.message_id)
            result.notes = notes
    except _Refused as exc:
        return _record(state, source.name, uid, mail, size, "refused", str(exc))
    except IntegrityError as exc:
        with state.db.session() as s:
            if s.scalar(select(InboundMail.id).where(InboundMail.source == source.name, InboundMail.uid == uid)):
                return Outcome("duplicate", "ingested by another worker at the same time")
        raise RetryLater(f"database: {exc.__class__.__name__}") from exc
    finally:
        for item in staged:
            item.cleanup()
    _after(state, written)
    return result


def record_failure(state: AppState, source: MailSource, message: InboundMessage, exc: BaseException) -> Outcome:
    """Record a message that made ingest fail unexpectedly (a bug, not an outage) as refused, so one bad
    message never blocks its mailbox; the traceback goes to the log."""
    log.error("mail %s/%s could not be ingested", source.name, message.uid, exc_info=exc)
    mail = parse(message.raw, headers_only=True)
    return _record(state, source.name, str(message.uid)[:250], mail, max(message.size, len(message.raw)),
                   "refused", f"could not be ingested ({exc.__class__.__name__}: {str(exc)[:300]}); the original "
                   "is still in the mailbox")


def _after(state: AppState, written: _Written) -> None:
    """Events of a committed ticket (``ticket_created``) and account (``user_registered``)."""
    from core.tickets.info import listeners
    from core.users import to_info

    new_user = written.new_user if listeners(state, "user_registered") else None
    created = written.created and listeners(state, "ticket_created")
    if new_user is None and not created:
        return
    with state.db.session() as s:
        if new_user is not None:
            user = s.get(User, new_user)
            if user is not None:
                emit(state, "user_registered", user=to_info(user))
        if created:
            first = s.scalar(select(TicketMessage).where(TicketMessage.ticket_id == written.ticket_id)
                             .order_by(TicketMessage.id).limit(1))
            if first is not None:
                emit(state, "ticket_created", ticket=ticket_infos(s, [written.ticket_id])[0],
                     message=message_info(first))
