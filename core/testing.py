"""Test harness for plugdesk and plugin authors (loaded by pytest through the ``pytest11`` entry point).

Installing plugdesk makes these fixtures available in every pytest run; a plugin's tests need no conftest.

Fixtures:

* ``plugdesk_app_factory`` - ``make(plugins=[...], extra={name: obj}, overrides={...}) -> Flask``: an app
  on a fresh SQLite database in a temp dir with only the named plugins enabled. ``extra`` registers objects
  or modules directly (a plugin package that is not pip-installed yet); ``overrides`` are ``plugdesk.toml``
  tables, e.g. ``{"plugins": {"NAME": {"key": "value"}}}`` for the plugin's own configuration.
* ``plugdesk_app`` - an app with the default embedded plugins that are installed.
* ``hook_recorder`` - ``recorder = hook_recorder(app)`` records every hook call of an app
  (``recorder.calls("user_registered")`` -> list of keyword-argument dicts).
* ``login_as`` - ``client, user = login_as(app, "agent")``: a Flask test client logged in as a new user of
  that role (``user``, ``agent``, ``manager`` or ``admin``).

Helpers: :func:`make_test_app` (the same app outside a fixture), :func:`create_user` (a local account, no
HTTP), :func:`deliver_mail` (send the queued mail now: test apps run no background worker),
:func:`moderate` (core's combined moderation decision), :class:`HookRecorder`, :data:`TEST_PASSWORD` and
:class:`StartupError` (what a refused plugin or configuration raises).

For speed, a test run hashes passwords with argon2's cheapest parameters (the same code path; set
``PLUGDESK_TEST_REAL_ARGON2=1`` to keep the production ones), compiles Flask's URL builders once per run
(:mod:`core.testroutes`), and gives every test app a copy of a schema built once per run (:mod:`core.testdb`).

Contract suites (from :mod:`core.contracts`, re-exported here): subclass one in a plugin's tests and every
guarantee of its area is checked; the in-tree plugins run the same suites.

* :class:`AuthProviderContract` - ``auth_providers`` / ``auth_authenticate`` / ``auth_set_password``.
* :class:`CaptchaProviderContract` - a :class:`core.types.CaptchaProvider`.
* :class:`StorageBackendContract` - a :class:`core.types.BlobStore`.
* :class:`ModerationContract` - ``moderation_check``.
* :class:`RetentionContract` - ``retention_sweep``.
* :class:`RedirectLoginContract` - ``auth_redirect_*`` (single sign-on: the hooks and the round trip).
* :class:`MailSourceContract` - ``mail_sources`` (a :class:`core.types.MailSource`: fetch, ack, round trip).

See ``docs/writing-plugins.md`` for a walk-through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.plugins import StartupError as StartupError  # what a refused configuration raises
from core.types import ModerationDecision, PostInfo, UserInfo

TEST_PASSWORD = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    """Make a test run fast without changing what it tests.

    Passwords are hashed with argon2's cheapest parameters (the same code path as production; set
    ``PLUGDESK_TEST_REAL_ARGON2=1`` to keep OWASP's, e.g. to time logins), and Werkzeug's URL builders are
    compiled once per run instead of once per app (:mod:`core.testroutes`).
    """
    import os

    from core.auth.hashing import use_test_parameters
    from core.testroutes import memoize_url_builders

    if os.environ.get("PLUGDESK_TEST_REAL_ARGON2", "") in ("", "0"):
        use_test_parameters()
    memoize_url_builders()


def make_test_app(tmp_path: Path, plugins: list[str] | None = None, *, extra: Mapping[str, object] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build an app with only ``plugins`` enabled, on SQLite in ``tmp_path`` (schema created), ``TESTING`` on.

    :param tmp_path: the app's data directory (created); its database is ``tmp_path / "plugdesk.db"`` and,
        without ``[mail] url``, delivered mail lands in ``tmp_path / "outbox"``.
    :param plugins: the names for ``[plugins] enabled``, in chain order (default: ``auth_local``).
    :param extra: plugin objects or modules by name, registered directly (not installed yet); a name also in
        ``plugins`` takes that place in the chain.
    :param overrides: ``plugdesk.toml`` tables merged over the harness's, e.g.
        ``{"plugins": {"word_filter": {"words": ["casino"]}}}``.
    :raises StartupError: when a plugin or its configuration is refused, as ``plugdesk serve`` would.

    Example: ``app = make_test_app(tmp_path, ["auth_local", "word_filter"], extra={"word_filter": module})``.
    """
    from core.settings import HARNESS_PLUGINS
    from core.testdb import prepare_schema

    tmp_path.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {
        "server": {"data_dir": str(tmp_path), "secret_key": "test-secret-key-not-for-production"},
        "database": {"url": f"sqlite:///{tmp_path / 'plugdesk.db'}"},
        "plugins": {"enabled": list(plugins if plugins is not None else HARNESS_PLUGINS)},
    }
    for section, table in (overrides or {}).items():
        base[section] = {**base.get(section, {}), **table} if isinstance(table, Mapping) else table
    app = _create(base, extra)
    state = app.extensions["plugdesk"]
    prepare_schema(state, tmp_path / "plugdesk.db")  # core's tables + plugin migrations, copied from a template
    app.config.update(TESTING=True)
    return app


def _create(base: Mapping[str, Any], extra: Mapping[str, object] | None) -> Flask:
    from core.app import create_app
    from core.settings import load_settings

    return create_app(load_settings(None, overrides=base, environ={}), plugins=extra)


@dataclass(frozen=True)
class HookCall:
    """One pluggy call seen by a :class:`HookRecorder`.

    ``call_id`` groups the per-plugin pluggy calls of one call by core (a ``notify`` hook with three
    implementations makes three pluggy calls, one per plugin, with one ``call_id``); ``plugins`` names the
    plugins whose implementations took part (wrappers included).
    """

    hook: str
    kwargs: dict[str, Any]
    plugins: tuple[str, ...]
    call_id: int


@dataclass
class HookRecorder:
    """Records hook calls made through an app's plugin manager (pluggy's own call monitoring).

    ``recorder.calls("user_registered")`` lists the keyword arguments of every call core made, once per
    call however many plugins implement the hook; ``recorder.records`` has every pluggy call with the
    plugins it reached.
    """

    records: list[HookCall] = field(default_factory=list)
    _undo: Callable[[], None] | None = None

    def calls(self, hook: str) -> list[dict[str, Any]]:
        """Keyword arguments of every call of ``hook`` by core, in order."""
        seen: set[int] = set()
        found = []
        for record in self.records:
            if record.hook == hook and record.call_id not in seen:
                seen.add(record.call_id)
                found.append(record.kwargs)
        return found

    def plugins_called(self, hook: str) -> list[str]:
        """Plugins whose implementation of ``hook`` was called, in order (wrappers included)."""
        return [p for record in self.records if record.hook == hook for p in record.plugins]

    def attach(self, app: Flask) -> HookRecorder:
        """Start recording calls on ``app``."""
        from core.plugin_calls import current_call

        host = app.extensions["plugdesk"].host
        direct = iter(range(-1, -10**9, -1))  # ids for pluggy calls made outside core's host

        def before(hook_name: str, impls: Any, kwargs: dict[str, Any]) -> None:
            call = current_call()
            call_id = call[0] if call and call[1] == hook_name else next(direct)
            self.records.append(HookCall(hook_name, dict(kwargs), tuple(i.plugin_name for i in impls), call_id))

        self._undo = host.pm.add_hookcall_monitoring(before, lambda *a: None)
        return self

    def detach(self) -> None:
        """Stop recording."""
        if self._undo:
            self._undo()
            self._undo = None


@pytest.fixture
def plugdesk_app_factory(tmp_path: Path) -> Callable[..., Flask]:
    """``make(plugins=[...], extra={...}, overrides={...})`` builds isolated apps in ``tmp_path``."""
    counter = iter(range(1000))

    def make(plugins: list[str] | None = None, *, extra: Mapping[str, object] | None = None,
             overrides: Mapping[str, Any] | None = None) -> Flask:
        return make_test_app(tmp_path / f"app{next(counter)}", plugins, extra=extra, overrides=overrides)

    return make


@pytest.fixture
def plugdesk_app(plugdesk_app_factory: Callable[..., Flask]) -> Flask:
    """An app with ``auth_local`` (plus the other default plugins that are installed)."""
    from core.plugins import loadable_defaults

    return plugdesk_app_factory(loadable_defaults())


@pytest.fixture
def hook_recorder() -> Iterator[Callable[[Flask], HookRecorder]]:
    """``recorder = hook_recorder(app)``; stops recording at teardown."""
    recorders: list[HookRecorder] = []

    def attach(app: Flask) -> HookRecorder:
        recorder = HookRecorder().attach(app)
        recorders.append(recorder)
        return recorder

    yield attach
    for recorder in recorders:
        recorder.detach()


def deliver_mail(app: Flask) -> Any:
    """Send every message the app's outbox has due now, in this process, and return the
    :class:`core.outbox.DrainReport` (``sent``, ``retrying``, ``failed``, ``dropped``). Test apps run no
    background worker: mail your code queued reaches ``[mail] url`` only when this is called."""
    from core.outbox import deliver_now

    return deliver_now(app.extensions["plugdesk"])


def create_user(app: Flask, role: str = "user", username: str | None = None,
                password: str = TEST_PASSWORD, verified: bool = True) -> Any:
    """Create a local account directly (no captcha, no HTTP) and return its :class:`core.UserInfo`.

    The username defaults to ``ROLE_xxxxxx``, the address to ``USERNAME@example.com`` and the password to
    :data:`TEST_PASSWORD`. ``verified=False`` leaves the address unconfirmed and queues the confirmation
    message (send it with :func:`deliver_mail`). The ``user_registered`` hook fires as for a registration.

    Example: ``dora = create_user(app, "agent", username="dora")``.
    """
    import secrets

    from core.auth.accounts import register

    name = username or f"{role}_{secrets.token_hex(3)}"
    with app.app_context():
        return register(app.extensions["plugdesk"], username=name, email=f"{name}@example.com",
                        password=password, role=role, verified=verified)


@pytest.fixture
def login_as() -> Callable[..., tuple[Any, Any]]:
    """``client, user = login_as(app, "agent")``: a Flask test client with a logged-in session.

    The account is new (:func:`create_user` with that role); the client's session cookie is already set, so
    ``client.get("/manage")`` works at once. Forms still need their CSRF token, as in production.
    """

    def login(app: Flask, role: str = "user") -> tuple[Any, Any]:
        """Create an account of ``role`` and return a test client logged in as it, and the account."""
        user = create_user(app, role)
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["uid"], sess["sv"], sess["nonce"] = user.id, 1, "test"
        return client, user

    return login


def moderate(app: Flask | Any, author: UserInfo, post: PostInfo) -> ModerationDecision:
    """What core decides for a new ``post`` by ``author``: every enabled moderation plugin's vote, combined.

    :param app: the app (or its ``app.extensions["plugdesk"]`` state).
    """
    from core.moderation import moderate as combined

    return combined(app.extensions["plugdesk"] if isinstance(app, Flask) else app, author, post)


# ----------------------------------------------------------------------------- contract suites
# Assertion rewriting for the suites (pytest only rewrites test modules and registered plugins by itself).
pytest.register_assert_rewrite("core.contracts")

from core.contracts.auth import AuthProviderContract  # noqa: E402
from core.contracts.captcha import CaptchaProviderContract  # noqa: E402
from core.contracts.mail import MailSourceContract  # noqa: E402
from core.contracts.moderation import ModerationContract  # noqa: E402
from core.contracts.redirect import RedirectLoginContract  # noqa: E402
from core.contracts.retention import RetentionContract  # noqa: E402
from core.contracts.storage import StorageBackendContract  # noqa: E402

__all__ = [
    "TEST_PASSWORD", "AuthProviderContract", "CaptchaProviderContract", "HookCall", "HookRecorder",
    "MailSourceContract", "ModerationContract", "RedirectLoginContract", "RetentionContract", "StartupError",
    "StorageBackendContract",
    "create_user", "deliver_mail",
    "hook_recorder", "login_as", "make_test_app", "moderate", "plugdesk_app", "plugdesk_app_factory",
]
