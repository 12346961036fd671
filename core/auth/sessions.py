"""Web sessions (signed cookies) and API bearer tokens.

Both carry the user's ``session_version``; bumping it (logout, password change, reset) invalidates every
session and token of that user on every node at once, with no server-side session store.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from flask import Flask, g, has_request_context, request, session
from flask.globals import _cv_request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, Serializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import delete, select

from core.auth.session_records import end_session_records, live_session_user, record_session, touch_token
from core.db import Database
from core.models import ApiToken, User, utcnow
from core.types import Role

TOKEN_LIFETIME = timedelta(days=30)
#: The WSGI environ key holding the id of the request's authenticated user (web session or API token), for
#: the access log (:mod:`core.ops.web`).
USER_ID_ENVIRON = "plugdesk.user_id"
ROLE_RANK = {r.value: r.rank for r in Role}


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with the signing serializer built once per key set, not twice per
    request (profiling: ``get_signing_serializer`` ran for every page view, in ``open`` and ``save``)."""

    _cached: tuple[Any, Any, Any] | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        """The serializer for the app's current secret key and fallbacks (rebuilt when they change)."""
        cached = self._signing(app)
        return None if cached is None else cached[1]

    def _signing(self, app: Flask) -> tuple[Any, Any, Any] | None:
        """(key set, serializer, the serializer's verified-cookie memo) for the app's current keys."""
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached
        if not app.secret_key:
            return None
        serializer = PlainSigner([*key[1], key[0]], salt=self.salt, serializer=self.serializer,  # current key last
                                 signer_kwargs={"key_derivation": self.key_derivation,
                                                "digest_method": self.digest_method})
        self._cached = cached = (key, serializer, functools.lru_cache(maxsize=VERIFIED_COOKIES)(
            functools.partial(_verify_cookie, serializer)))
        return cached

    def verified(self, app: Flask, value: str) -> tuple[tuple[tuple[str, Any], ...], bool, int] | None:
        """A session cookie's content as items, whether any value is mutable, and when it was signed (seconds
        since the epoch), if its signature holds under the app's keys and it is within the session lifetime;
        else ``None``.

        A cookie whose signature was checked before is not checked again (the same bytes verify the same way
        under the same keys): the last :data:`VERIFIED_COOKIES` verified cookies are remembered. The age is
        checked on every call. The items are shared between calls: copy mutable values before changing them."""
        signing = self._signing(app)
        if signing is None:
            return None
        try:
            items, mutable, signed = signing[2](value)
        except BadSignature:
            return None
        age = time.time() - signed
        if age > app.permanent_session_lifetime.total_seconds() or age < 0:
            return None
        return items, mutable, signed

    def open_session(self, app: Flask, request: Any) -> Any:
        """Flask's, through :meth:`verified`, plus when the cookie was signed (``signed_at``, seconds since the
        epoch)."""
        if self._signing(app) is None:
            return None
        cookies, name = request.cookies, self.get_cookie_name(app)
        value = cookies[name] if name in cookies else None  # Werkzeug's .get() builds an exception on a miss
        found = self.verified(app, value) if value else None
        if found is None:
            return self.session_class()
        items, mutable, signed = found
        content: Any = copy.deepcopy(dict(items)) if mutable else items  # a session is a dict of these items
        opened: Any = self.session_class(content)
        opened.signed_at = signed
        return opened

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        """Flask's; when there is no cookie to write (the session is unchanged, and empty or not due for its
        refresh: most page views) only ``Vary: Cookie`` is added, without Flask's seven cookie settings
        lookups and its parse of the ``Vary`` header (about 3 % of a logged-in page)."""
        if not session.modified and (not session or not self.should_set_cookie(app, session)):
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)

    def should_set_cookie(self, app: Flask, session: Any) -> bool:
        """A changed session always; an unchanged permanent one when its cookie is :data:`REFRESH_EVERY` old:
        the expiry still slides with use (to the minute), without signing a new cookie on every page view."""
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or time.time() - signed_at >= REFRESH_EVERY


#: Seconds after which an unchanged permanent session's cookie is signed again (sliding expiry).
REFRESH_EVERY = 60
#: How many verified session cookies each process remembers (a few hundred bytes each).
VERIFIED_COOKIES = 1024
_SCALARS = (str, int, float, bool, type(None))


def _verify_cookie(serializer: Any, value: str) -> tuple[tuple[tuple[str, Any], ...], bool, int]:
    """A cookie's content as items, whether any value is mutable, and its signing time (seconds since the
    epoch), if its signature holds and it holds a dict (else raises :class:`BadSignature`)."""
    data, signed = serializer.loads(value, return_timestamp=True)
    if not isinstance(data, dict):
        raise BadSignature("a session cookie holds a dict")
    return tuple(data.items()), not all(isinstance(v, _SCALARS) for v in data.values()), int(signed.timestamp())


class PlainSigner(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer without trying zlib on the way out (the reading side still
    accepts compressed payloads). A cookie or token of a hundred bytes never shrinks enough to matter, and
    ``zlib.compress`` sets up a 256 KiB deflate state each time: it was the largest single cost of the login
    page (twice per request: the CSRF token and the session cookie)."""

    def dump_payload(self, obj: Any) -> bytes:
        """The serialized ``obj``, base64url-encoded, uncompressed."""
        return base64_encode(Serializer.dump_payload(self, obj))


def has_role(user: User | None, role: str) -> bool:
    """Tell whether ``user`` has ``role`` or a higher one."""
    return user is not None and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def start_session(user: User, *, second_factor: bool = False) -> None:
    """Log ``user`` in: a fresh cookie content (rotated), bound to the current session version, with a
    session record for the Sessions page (:mod:`core.auth.session_records`).

    :param second_factor: the login passed a second factor (or the user has just set one up).
    """
    from core.app_state import state

    session.clear()
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["nonce"] = secrets.token_urlsafe(16)
    sid = secrets.token_urlsafe(24)
    record_session(state().db, user, sid, request.remote_addr or "", request.user_agent.string, second_factor)
    session["sid"] = sid
    if second_factor:
        session["mfa"] = True
    session.permanent = True
    g.pop("plugdesk_user", None)


def session_user(db: Database) -> User | None:
    """The logged-in user of this request (cached), or ``None`` if the session is stale or absent."""
    known = g.__dict__  # the real objects behind the proxies: this runs several times per request
    if "plugdesk_user" in known:
        return known["plugdesk_user"]  # type: ignore[no-any-return]
    user = None
    current = _cv_request.get().session
    uid, version = current.get("uid"), current.get("sv")
    if isinstance(uid, int) and isinstance(version, int):
        sid = current.get("sid")  # cookies from before session records have none; "end all" ends those
        user = live_session_user(db, uid, version, sid if isinstance(sid, str) else None)
        if user is None:
            current.clear()
        else:
            _cv_request.get().request.environ[USER_ID_ENVIRON] = user.id  # for the access log and metrics
    known["plugdesk_user"] = user
    return user


def end_all_sessions(db: Database, user_id: int) -> None:
    """Invalidate every session and token of a user (logout everywhere, password change)."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is not None:
            user.session_version += 1
        s.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    end_session_records(db, user_id)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(db: Database, user: User) -> str:
    """Create a bearer token (256 bits); only its hash is stored."""
    raw = secrets.token_urlsafe(32)
    ip, agent = (request.remote_addr or "", request.user_agent.string) if has_request_context() else ("", "")
    with db.session() as s:
        s.add(ApiToken(user_id=user.id, token_hash=_hash(raw), session_version=user.session_version,
                       created_at=utcnow(), expires_at=utcnow() + TOKEN_LIFETIME, ip=ip[:64],
                       user_agent=agent[:300]))
    return raw


def token_user(db: Database, raw: str) -> User | None:
    """The user a bearer token belongs to, if the token is known, unexpired and still current."""
    if not raw or len(raw) > 200:
        return None
    with db.session() as s:
        row = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                        .where(ApiToken.token_hash == _hash(raw))).first()
        if row is None:
            return None
        token, user = row
        if token.expires_at < utcnow() or token.session_version != user.session_version or not user.is_active:
            return None
    touch_token(db, token)
    return user
