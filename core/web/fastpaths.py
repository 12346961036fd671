"""Per-request work done once: URL building memoised (issue 22's profiles); static files with versioned,
long-lived URLs.

``url_for`` ran 11 times for the shell of every page (stylesheet, script, navigation) and once more per row of
a listing (50 links on "My tickets", 200 on an agent queue); each call resolves the endpoint, runs Werkzeug's
builder and quotes the arguments, ~40 µs. Inside a request, a URL that is not external depends only on the
endpoint, its arguments, the blueprint (for ``.relative`` endpoints), the script root and the host, so the
memo keys on exactly those and falls back to Flask whenever anything else could matter: ``_external`` or
``_scheme``, ``url_defaults`` functions, unhashable arguments, or no request at all.

Static files: ``url_for('static', filename=...)`` adds ``v=<hash of the file>``, and a request carrying the
current hash is served with a one-year public ``max-age``; a new release changes the hash, so
browsers never keep a stale stylesheet or script. Without (or with an old) ``v`` the file is served as before
and revalidated.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import namedtuple
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, request, url_for
from flask.globals import _cv_request
from werkzeug.security import safe_join

from core.db_reads import read_scope
from core.files.body import FastBodyRequest
from core.web.jinja_env import JINJA_OPTIONS, SnapshotGlobalsEnvironment

MAX_ENTRIES = 8192
STATIC_MAX_AGE = 365 * 24 * 3600


def static_versions(app: Flask) -> Any:
    """``version(filename)``: the first 12 hex digits of the file's SHA-256 (``None`` when there is no such
    file), remembered per file and recomputed when its modification time changes."""
    seen: dict[str, tuple[float, str | None]] = {}

    def version(filename: str) -> str | None:
        path = safe_join(app.static_folder or "", filename)
        try:
            mtime = os.stat(path).st_mtime if path else None
        except OSError:
            mtime = None
        if mtime is None:
            return None
        found = seen.get(filename)
        if found is None or found[0] != mtime:
            with open(path, "rb") as f:  # type: ignore[arg-type]
                found = seen[filename] = (mtime, hashlib.sha256(f.read()).hexdigest()[:12])
        return found[1]

    return version


def install(app: Flask) -> None:
    """Replace ``app.url_for`` (used by :func:`flask.url_for`) and the templates' ``url_for`` by the memo."""
    original = app.url_for
    cache: dict[tuple[Any, ...], str] = {}
    version = static_versions(app)

    def url_for(endpoint: str, /, *, _anchor: str | None = None, _method: str | None = None,
                _scheme: str | None = None, _external: bool | None = None, **values: Any) -> str:
        ctx = _cv_request.get(None)
        if ctx is None or _external or _scheme is not None or app.url_default_functions:
            return original(endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external,
                            **values)
        req = ctx.request
        key = (endpoint, req.blueprint if endpoint[:1] == "." else None, req.script_root, req.host, _anchor,
               _method, *values.items())
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument (a list for a query string)
            return original(endpoint, _anchor=_anchor, _method=_method, **values)
        if endpoint == "static" and "v" not in values and isinstance(values.get("filename"), str):
            stamp = version(values["filename"])
            if stamp:
                values["v"] = stamp
        url = original(endpoint, _anchor=_anchor, _method=_method, **values)
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[key] = url
        return url

    app.url_for = url_for  # type: ignore[method-assign, assignment]
    app.jinja_env.globals["url_for"] = url_for
    default_max_age = app.get_send_file_max_age

    def max_age(filename: str | None) -> int | None:
        """A year for a static file asked for with its current hash, the default otherwise."""
        stamp = request.args.get("v")
        if filename and stamp and request.endpoint == "static" and stamp == version(filename):
            return STATIC_MAX_AGE
        return default_max_age(filename)

    app.get_send_file_max_age = max_age  # type: ignore[method-assign]


#: The links of every page's shell (``base.html``, and the management menu): name, endpoint, arguments.
SHELL_LINKS: tuple[tuple[str, str, dict[str, Any]], ...] = (
               ("css", "static", {"filename": "plugdesk.css"}), ("js", "static", {"filename": "plugdesk.js"}),
               ("home", "portal.index", {}), ("kb", "kb.index", {}), ("community", "community.index", {}),
               ("new_ticket", "tickets_portal.new_ticket", {}), ("my_tickets", "tickets_portal.my_tickets", {}),
               ("manage", "manage.dashboard", {}), ("profile", "portal.profile", {}), ("logout", "portal.logout", {}),
               ("login", "portal.login", {}), ("register", "portal.register_view", {}),
               ("resend", "account.resend", {}),
               # the management side menu (manage/_layout.html)
               ("m_kb", "kb_manage.articles", {}), ("m_moderation", "moderation.index", {}),
               ("m_tickets", "tickets_manage.queue", {}), ("m_departments", "departments_manage.departments", {}),
               ("m_canned", "canned.index", {}), ("m_settings", "manage.settings", {}),
               ("m_plugins", "manage.plugins", {}), ("m_audit", "manage.audit", {}),
               ("m_lockouts", "manage.lockouts", {}),
               ("m_storage", "files.storage_page", {}), ("m_mail", "mail_manage.mail", {}),
               ("m_jobs", "mail_manage.jobs", {}), ("m_users", "manage.users", {}))
ShellLinks = namedtuple("ShellLinks", [name for name, _endpoint, _values in SHELL_LINKS])  # type: ignore[misc]
_shells: dict[tuple[Any, ...], Any] = {}


def shell_links() -> Any:
    """The shell's URLs for this request (``shell.kb``, ``shell.css``, ...), built once per app, script root
    and host: a template reads an attribute instead of calling ``url_for`` a dozen times per page."""
    ctx = _cv_request.get()
    key = (id(ctx.app), ctx.request.script_root, ctx.request.host)
    found = _shells.get(key)
    if found is None:
        if len(_shells) >= 64:
            _shells.clear()
        found = _shells[key] = ShellLinks(*(ctx.app.url_for(endpoint, **values)
                                            for _name, endpoint, values in SHELL_LINKS))
    return found


def precompile_templates(app: Flask) -> int:
    """Compile every template once (in the gunicorn master, before the fork): workers share the compiled
    code instead of each compiling on its first requests. Returns how many templates were loaded."""
    loaded = 0
    for name in app.jinja_env.list_templates(extensions=("html", "xml", "txt")):
        try:
            app.jinja_env.get_template(name)
            loaded += 1
        except Exception:  # noqa: BLE001 - a template that does not compile fails when used, as before
            continue
    return loaded


class PlugdeskFlask(Flask):
    """Flask with :meth:`ensure_sync` remembered per function, one read connection per request, the Jinja
    environment of :mod:`core.web.jinja_env` and multipart bodies read from gunicorn's socket
    (:class:`core.files.body.FastBodyRequest`).

    Flask asks ``inspect.iscoroutinefunction`` about every view, ``before_request``, ``after_request``,
    teardown and context processor on every request (about 20 times for a page here); the answer never changes
    for a function, so it is kept (for the registered ones: per-request ``after_this_request`` closures are not
    kept once :data:`MAX_SYNC_ENTRIES` functions are known).
    """

    MAX_SYNC_ENTRIES = 1024
    jinja_environment = SnapshotGlobalsEnvironment
    request_class = FastBodyRequest
    jinja_options = JINJA_OPTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        """``func`` itself for a plain function, else Flask's wrapper (both remembered)."""
        try:
            return self._sync[func]
        except KeyError:
            found = super().ensure_sync(func)
            if len(self._sync) < self.MAX_SYNC_ENTRIES:
                self._sync[func] = found
            return found
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)

    def wsgi_app(self, environ: Any, start_response: Any) -> Any:
        """Flask's, with the request's precompiled reads on one pooled connection (:func:`read_scope`)."""
        with read_scope():
            return super().wsgi_app(environ, start_response)


def url_prefix(endpoint: str, **values: Any) -> str | None:
    """The URL of ``endpoint`` built with ``values`` minus the path segments those values fill, in order
    (``/kb/`` for ``kb.article`` with ``article_id=0, slug="_"``): a listing builds it once per page and appends
    each row's values, as ``url_for`` would write them for plain ids and slugs. ``None`` when the route does not
    end with those segments."""
    probe = url_for(endpoint, **values)
    tail = "/".join(str(v) for v in values.values())
    return probe[:-len(tail)] if probe.endswith("/" + tail) else None


def gate_hooks(hooks: list[Any], wanted: Callable[[Any], bool], methods: Callable[[], Collection[str]],
               otherwise: Callable[..., Any] = lambda *_args: None) -> int:
    """Replace each hook in ``hooks`` (an app's ``before_request``/``after_request``/``teardown_request`` list)
    for which ``wanted(hook)`` holds by one that runs it only for the request methods ``methods()`` names and
    answers ``otherwise(*args)`` for the others (an after-request hook must give the response back).

    For extensions' hooks that do per-request work only to find the method is not theirs (Flask-WTF's CSRF
    check, flask-limiter's checks, header injection and context reset). Returns how many were replaced."""
    replaced = 0
    for i, hook in enumerate(hooks):
        if wanted(hook):
            def gated(*args: Any, hook: Any = hook) -> Any:
                return (hook if request.method in methods() else otherwise)(*args)
            hooks[i] = functools.update_wrapper(gated, hook) if hasattr(hook, "__name__") else gated
            replaced += 1
    return replaced


def csrf_for_writes_only(app: Flask) -> None:
    """Skip Flask-WTF's ``before_request`` check for methods it never checks (``WTF_CSRF_METHODS``): it
    looks up exemptions for the blueprint and the view first, on every GET, and only then returns."""
    found = gate_hooks(app.before_request_funcs.setdefault(None, []),
                       lambda hook: getattr(hook, "__name__", "") == "csrf_protect"
                       and hook.__module__ == "flask_wtf.csrf",
                       lambda: app.config["WTF_CSRF_METHODS"])
    if not found:
        raise RuntimeError("Flask-WTF's csrf_protect hook was not found: CSRFProtect(app) must come first")
