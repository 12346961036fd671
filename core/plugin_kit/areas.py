'''Per-area parts of a scaffold: the hooks (with TODOs that raise) and the contract-suite tests.

Each :class:`Area` fills the placeholders of :mod:`core.plugin_kit.templates`.
'''

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    """What one area adds to the module and to the tests."""

    imports: str
    keys: str  # the fields of the scaffold's Options model (indented lines), or "" for none
    hooks: tuple[str, ...]
    body: str
    test_imports: str
    tests: str
    overrides: str = "{}"


AUTH = Area(
    imports="from core import AuthProviderInfo, AuthResult, ConfigModel, RequestInfo, hookimpl, parse_plugin_config",
    keys='    url: str = ""  # TODO: your backend\'s address',
    hooks=("auth_authenticate", "auth_providers", "parse_config"),
    body='''

@hookimpl
def auth_providers(ctx: Any) -> list[AuthProviderInfo]:
    """The provider(s) this plugin adds. ``external=True``: passwords live elsewhere (no reset, no change)."""
    return [AuthProviderInfo(name=NAME, label="TODO: the name users see", external=True)]


@hookimpl
def auth_authenticate(username: str, password: str, request: RequestInfo, ctx: Any) -> AuthResult | None:
    """Check ``username``/``password`` against your backend.

    Return ``AuthResult.ok(Identity(provider=NAME, username=..., external_id=<stable id>, email=...))``
    (``from core import Identity``),
    ``AuthResult.denied(reason)`` when the account is yours and the password is wrong,
    ``AuthResult.unavailable(reason)`` when the backend is down, or ``None`` for users you do not know.
    Never log the password. ``ctx.plugin_config(NAME)`` is what parse_config returned.
    """
    raise NotImplementedError(f"{NAME}: auth_authenticate is not written yet (TODO in {__name__})")
''',
    test_imports="from core.testing import AuthProviderContract",
    tests='''

class Test__CLASS__Contract(AuthProviderContract):
    """Everything plugdesk expects from an auth provider."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    invalid_config = {"url": 42}  # values parse_config must refuse, naming the key

    @pytest.fixture
    def account(self, app: Any) -> tuple[str, str]:
        """TODO: an account your backend knows - start a test server in a fixture, or create the account."""
        return "alice", "TODO-alice-password"

    # Optional: a `backend_down` fixture returning an app whose backend cannot be reached, e.g.
    # plugdesk_app_factory(["auth_local", "__NAME__"], extra=..., overrides={"plugins": {"__NAME__": {...}}}).
''')

CAPTCHA = Area(
    imports="from core import CaptchaProvider, CaptchaVerdict, ConfigModel, hookimpl, parse_plugin_config",
    keys="    ttl_seconds: int = 600",
    hooks=("captcha_providers", "parse_config"),
    body='''

class Provider(CaptchaProvider):
    """TODO: render a challenge and check answers (single use, bound to the purpose, fail closed)."""

    name = NAME

    def __init__(self, config: Mapping[str, Any], secret_key: str) -> None:
        self.config = config
        self.secret_key = secret_key  # sign your tokens with it; never log it

    def render(self, purpose: str) -> str:
        """The HTML fragment placed in the form for ``purpose``; never contains the answer."""
        raise NotImplementedError(f"{NAME}: Provider.render is not written yet (TODO in {__name__})")

    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        """Check the submitted fields; a token works once and only for its purpose."""
        raise NotImplementedError(f"{NAME}: Provider.verify is not written yet (TODO in {__name__})")


@hookimpl
def captcha_providers(ctx: Any) -> dict[str, CaptchaProvider]:
    """``[captcha] provider = "__NAME__"`` (and the Settings > Security captcha type) selects this one."""
    return {NAME: Provider(ctx.plugin_config(NAME), ctx.secret_key)}
''',
    test_imports="from core.testing import CaptchaProviderContract",
    overrides='{"captcha": {"provider": "__NAME__"}}',
    tests='''

class Test__CLASS__Contract(CaptchaProviderContract):
    """Everything plugdesk expects from a captcha provider."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    overrides = {"captcha": {"provider": "__NAME__"}}
    invalid_config = {"ttl_seconds": "ten minutes"}  # values parse_config must refuse, naming the key
    answer_field = "captcha_answer"  # TODO: the field carrying the answer in your form
    token_field = "captcha_token"  # TODO: the field carrying the challenge token

    @pytest.fixture
    def provider(self, plugdesk_app_factory: Any) -> Any:
        app = plugdesk_app_factory(["auth_local", "__NAME__"], extra={"__NAME__": __MODULE__},
                                   overrides={"captcha": {"provider": "__NAME__"}})
        return __MODULE__.captcha_providers(app.extensions["plugdesk"].ctx)["__NAME__"]

    @pytest.fixture
    def solve(self, provider: Any) -> Any:
        def solve(purpose: str) -> tuple[str, dict[str, str]]:
            _html = provider.render(purpose)
            raise NotImplementedError("TODO: return (html, the form fields of a person who solved it)")
        return solve

    @pytest.fixture
    def expire(self, provider: Any) -> Any:
        def expire() -> None:
            raise NotImplementedError("TODO: make every challenge issued so far too old")
        return expire
''')

STORAGE = Area(
    imports=("import re\nfrom collections.abc import Iterator\nfrom pathlib import Path\nfrom typing import BinaryIO"
             "\n\nfrom core import BlobNotFound, BlobStore, ConfigModel, hookimpl, parse_plugin_config"),
    keys='    path: str = "__NAME__-blobs"',
    hooks=("parse_config", "storage_backends"),
    body='''
DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Store(BlobStore):
    """Bytes by SHA-256 hex digest. Core hashes, counts references and decides deletes; you move bytes.

    Refuse anything that is not 64 lower-case hex characters with ValueError (see DIGEST).
    """

    name = NAME

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, digest: str, stream: BinaryIO, size: int) -> bool:
        """Store atomically; ``False`` when the digest was already there."""
        raise NotImplementedError(f"{NAME}: Store.put is not written yet (TODO in {__name__})")

    def open(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes start..end (inclusive); raise BlobNotFound from the call itself, not on iteration."""
        raise NotImplementedError(f"{NAME}: Store.open is not written yet (TODO in {__name__})")

    def delete(self, digest: str) -> None:
        """Remove; a missing digest is not an error."""
        raise NotImplementedError(f"{NAME}: Store.delete is not written yet (TODO in {__name__})")

    def exists(self, digest: str) -> bool:
        """Whether the digest is stored."""
        raise NotImplementedError(f"{NAME}: Store.exists is not written yet (TODO in {__name__})")

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest (never temp files)."""
        raise NotImplementedError(f"{NAME}: Store.iter_digests is not written yet (TODO in {__name__})")


@hookimpl
def storage_backends(ctx: Any) -> dict[str, BlobStore]:
    """``[storage] backend = "__NAME__"`` selects this store."""
    path = Path(ctx.plugin_config(NAME)["path"])
    return {NAME: Store(path if path.is_absolute() else ctx.settings.data_dir / path)}


__all__ = ["BlobNotFound", "Store", "parse_config", "storage_backends"]
''',
    test_imports="from core.testing import StorageBackendContract",
    overrides='{"storage": {"backend": "__NAME__"}}',
    tests='''

class Test__CLASS__Contract(StorageBackendContract):
    """Everything plugdesk expects from a blob store (atomic, idempotent, ranges, streaming...)."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    overrides = {"storage": {"backend": "__NAME__"}}
    invalid_config = {"path": 42}  # values parse_config must refuse, naming the key

    @pytest.fixture
    def store(self, tmp_path: Any) -> Any:
        return __MODULE__.Store(tmp_path / "blobs")
''')

MODERATION = Area(
    imports="from core import ConfigModel, PostInfo, UserInfo, Verdict, hookimpl, parse_plugin_config",
    keys="    max_links: int = 3",
    hooks=("moderation_check", "parse_config"),
    body='''

@hookimpl
def moderation_check(author: UserInfo, post: PostInfo, ctx: Any) -> Verdict | None:
    """Vote on a new community post: ``Verdict.hold(reason)``, ``Verdict.reject(reason)``, or ``None``.

    Moderators see the reason. Core combines every plugin's vote: reject > hold > allow.
    """
    raise NotImplementedError(f"{NAME}: moderation_check is not written yet (TODO in {__name__})")
''',
    test_imports="from core import PostInfo\nfrom core.testing import ModerationContract",
    tests='''

class Test__CLASS__Contract(ModerationContract):
    """Everything plugdesk expects from a moderation rule."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    invalid_config = {"max_links": "three"}  # values parse_config must refuse, naming the key
    staff_exempt = False  # TODO: True if agents, managers and admins are never held by your rule

    @pytest.fixture
    def flagged(self, app: Any) -> tuple[Any, PostInfo]:
        """TODO: a post your rule must hold or reject."""
        return self.author(app), PostInfo("thread", "TODO", "<p>TODO: a post your rule holds</p>")

    @pytest.fixture
    def clean(self, app: Any) -> tuple[Any, PostInfo]:
        """A post your rule must let through."""
        return self.author(app, days_old=365), PostInfo("thread", "Hello", "<p>An ordinary question.</p>")
''')

RETENTION = Area(
    imports="from datetime import datetime\n\nfrom core import ConfigModel, SweepReport, hookimpl, parse_plugin_config",
    keys="    batch_size: int = 1000",
    hooks=("parse_config", "retention_sweep"),
    body='''

@hookimpl
def retention_sweep(now: datetime, dry_run: bool, ctx: Any) -> SweepReport | None:
    """Apply your rules as of ``now`` (UTC); with ``dry_run`` only count. Must be idempotent.

    Return ``SweepReport(plugin=NAME, counts={department: {"closed": n, ...}}, dry_run=dry_run)``. Core
    holds the cluster-wide retention lock while this runs.
    """
    raise NotImplementedError(f"{NAME}: retention_sweep is not written yet (TODO in {__name__})")
''',
    test_imports="from core.testing import RetentionContract",
    tests='''

class Test__CLASS__Contract(RetentionContract):
    """Everything plugdesk expects from a retention sweep (dry run, idempotence, report shape)."""

    plugin_name = "__NAME__"
    plugin = __MODULE__
    invalid_config = {"batch_size": "many"}  # values parse_config must refuse, naming the key

    @pytest.fixture
    def populate(self, app: Any) -> Any:
        def fill() -> Any:
            raise NotImplementedError("TODO: create data your sweep acts on; return the `now` to sweep at")
        return fill
''')

OTHER = Area(
    imports="from core import ConfigModel, UserInfo, hookimpl, parse_plugin_config",
    keys="",
    hooks=("parse_config", "register_blueprints", "user_registered"),
    body='''

@hookimpl
def register_blueprints(ctx: Any) -> list[Any]:
    """Pages or API routes this plugin adds (CSRF, security headers and error pages come from core)."""
    from flask import Blueprint

    bp = Blueprint(NAME, __name__, url_prefix=f"/plugins/{NAME}")
    bp.add_url_rule("/", "index", lambda: {"plugin": NAME, "status": "ok"})
    return [bp]


@hookimpl
def user_registered(user: UserInfo, ctx: Any) -> None:
    """An event: a new account was committed. Failures are logged with the plugin's name, never raised."""
    raise NotImplementedError(f"{NAME}: user_registered is not written yet (TODO in {__name__})")
''',
    test_imports="import logging\n\nfrom core.testing import StartupError, create_user",
    tests='''

@pytest.fixture
def app(plugdesk_app_factory: Any) -> Any:
    return plugdesk_app_factory(["auth_local", "__NAME__"], extra={"__NAME__": __MODULE__})


def test_page_answers(app: Any) -> None:
    assert app.test_client().get("/plugins/__NAME__/").get_json() == {"plugin": "__NAME__", "status": "ok"}


def test_unknown_configuration_key_is_refused(plugdesk_app_factory: Any) -> None:
    with pytest.raises(StartupError, match="__NAME__.*no_such_key"):
        plugdesk_app_factory(["auth_local", "__NAME__"], extra={"__NAME__": __MODULE__},
                             overrides={"plugins": {"__NAME__": {"no_such_key": 1}}})


def test_user_registered_is_handled(app: Any, hook_recorder: Any, caplog: Any) -> None:
    recorder = hook_recorder(app)
    with caplog.at_level(logging.ERROR):
        user = create_user(app)
    assert [c["user"].id for c in recorder.calls("user_registered")] == [user.id]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
''')



def _redirect() -> Area:
    """The ``redirect`` area (single sign-on), kept in :mod:`core.plugin_kit.area_redirect`."""
    from core.plugin_kit.area_redirect import REDIRECT_PARTS

    return Area(**REDIRECT_PARTS)


REDIRECT = _redirect()


def _mail_sources() -> Area:
    """The ``mail_sources`` area (email to ticket), kept in :mod:`core.plugin_kit.area_mail`."""
    from core.plugin_kit.area_mail import MAIL_SOURCES_PARTS

    return Area(**MAIL_SOURCES_PARTS)


MAIL_SOURCES = _mail_sources()

AREAS_BY_NAME: dict[str, Area] = {"auth": AUTH, "captcha": CAPTCHA, "storage": STORAGE, "moderation": MODERATION,
                                  "retention": RETENTION, "other": OTHER,
                                  "redirect": REDIRECT, "mail_sources": MAIL_SOURCES}
