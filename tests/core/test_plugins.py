"""Plugin manager: discovery, validation, chain order, single-choice areas, fail-closed auth, events."""

from __future__ import annotations

import logging

import pytest

import core
from core import hookimpl
from core.auth.login import GENERIC_FAILURE, authenticate
from core.plugins import StartupError
from core.testing import TEST_PASSWORD, create_user
from core.types import (
    AuthProviderInfo,
    AuthResult,
    BlobStore,
    Identity,
    PluginConfigError,
    PostInfo,
    RequestInfo,
    SettingSpec,
    SweepReport,
    Verdict,
    VerdictAction,
)


class Misspelled:
    @hookimpl
    def auth_authenticat(self, username, password):  # noqa: D102 - deliberately wrong name
        return None


class WrongArgument:
    @hookimpl
    def auth_authenticate(self, username, pasword):  # noqa: D102 - argument not in the spec
        return None


class Incompatible:
    PLUGDESK_HOOKS_VERSION = ">=2.0"


def test_unknown_plugin_name_names_installed_ones(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_locl"])
    assert "unknown plugin 'auth_locl'" in str(exc.value)
    assert "did you mean 'auth_local'" in str(exc.value)


def test_misspelled_hook_names_plugin_and_closest_hook(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local"], extra={"typo_plugin": Misspelled()})
    msg = str(exc.value)
    assert "typo_plugin" in msg and "auth_authenticat" in msg and "did you mean 'auth_authenticate'" in msg


def test_argument_not_in_spec_names_plugin_and_argument(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local"], extra={"argplugin": WrongArgument()})
    assert "argplugin" in str(exc.value) and "pasword" in str(exc.value)


def test_incompatible_hook_version_refused(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local"], extra={"future": Incompatible()})
    assert "future" in str(exc.value) and ">=2.0" in str(exc.value) and core.HOOKS_VERSION in str(exc.value)


class ConfiguredPlugin:
    @hookimpl
    def parse_config(self, raw):
        if not isinstance(raw.get("level", 1), int):
            raise PluginConfigError("level", "expected an integer")
        return {"level": raw.get("level", 1)}


def test_bad_plugin_config_names_plugin_and_key(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "cfg"], extra={"cfg": ConfiguredPlugin()},
                             overrides={"plugins": {"enabled": ["auth_local", "cfg"], "cfg": {"level": "x"}}})
    assert "plugin 'cfg'" in str(exc.value) and "level: expected an integer" in str(exc.value)


def test_good_plugin_config_reaches_ctx(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local", "cfg"], extra={"cfg": ConfiguredPlugin()},
                               overrides={"plugins": {"enabled": ["auth_local", "cfg"], "cfg": {"level": 3}}})
    assert app.extensions["plugdesk"].ctx.plugin_config("cfg") == {"level": 3}


def test_table_for_plugin_that_takes_no_config(plugdesk_app_factory):
    with pytest.raises(StartupError, match="takes no configuration"):
        plugdesk_app_factory(overrides={"plugins": {"enabled": ["auth_local"], "auth_local": {"x": 1}}})


def test_table_for_plugin_not_enabled(plugdesk_app_factory):
    with pytest.raises(StartupError, match="not enabled"):
        plugdesk_app_factory(overrides={"plugins": {"enabled": ["auth_local"], "auth_ldap": {"x": 1}}})


class Store(BlobStore):
    def put(self, digest, stream, size):
        return True

    def open(self, digest, start=0, end=None):
        yield b""

    def delete(self, digest):
        pass

    def exists(self, digest):
        return False

    def iter_digests(self):
        return iter(())


class StorageA:
    @hookimpl
    def storage_backends(self):
        return {"fs": Store()}


class StorageB:
    @hookimpl
    def storage_backends(self):
        return {"fs": Store()}


def test_two_plugins_claiming_one_backend_name(plugdesk_app_factory):
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local"], extra={"sa": StorageA(), "sb": StorageB()})
    assert "two plugins claim storage backend 'fs'" in str(exc.value)


def test_selected_backend_must_exist(plugdesk_app_factory):
    with pytest.raises(StartupError, match="backend = 's3'"):
        plugdesk_app_factory(["auth_local"], extra={"sa": StorageA()}, overrides={"storage": {"backend": "s3"}})


def test_single_choice_storage_selected(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"], extra={"sa": StorageA()})
    assert isinstance(app.extensions["plugdesk"].storage, Store)


class Exploding:
    @hookimpl
    def auth_authenticate(self, username, password):
        raise RuntimeError("directory on fire")


class AcceptAll:
    def __init__(self):
        self.calls = 0

    @hookimpl
    def auth_providers(self):
        return [AuthProviderInfo(name="always", label="Always", external=True)]

    @hookimpl
    def auth_authenticate(self, username, password):
        self.calls += 1
        return AuthResult.ok(Identity(provider="always", username=username, external_id=f"ext-{username}",
                                      email=f"{username}@example.org", email_verified=True))


def test_exception_in_auth_plugin_fails_closed_and_logs_plugin(plugdesk_app_factory, caplog):
    accept = AcceptAll()
    app = plugdesk_app_factory(["boom", "auth_local", "accept"], extra={"boom": Exploding(), "accept": accept})
    with caplog.at_level(logging.ERROR, logger="plugdesk.auth"), app.app_context():
        outcome = authenticate(app.extensions["plugdesk"], "someone", "pw-long-enough", RequestInfo())
    assert outcome.user is None and outcome.message == GENERIC_FAILURE
    assert accept.calls == 0  # the chain stopped: fail closed
    assert "boom" in caplog.text and "fail closed" in caplog.text


def test_chain_follows_enabled_order_and_jit_links_external_identity(plugdesk_app_factory, hook_recorder):
    accept = AcceptAll()
    app = plugdesk_app_factory(["auth_local", "accept"], extra={"accept": accept})
    recorder = hook_recorder(app)
    state = app.extensions["plugdesk"]
    create_user(app, username="localuser")
    with app.app_context():
        local = authenticate(state, "LocalUser", TEST_PASSWORD, RequestInfo())
        assert local.user is not None and local.user.provider == "local"
        assert accept.calls == 0
        ext = authenticate(state, "diruser", "whatever-pass", RequestInfo())
        again = authenticate(state, "diruser", "whatever-pass", RequestInfo())
    assert ext.user is not None and ext.user.provider == "always" and ext.user.verified
    assert again.user.id == ext.user.id
    assert [c["user"].username for c in recorder.calls("user_logged_in")] == ["localuser", "diruser", "diruser"]


class Votes:
    def __init__(self, verdict):
        self.verdict = verdict

    @hookimpl
    def moderation_check(self, author, post):
        return self.verdict


def test_moderation_votes_are_combined_strongest_wins(plugdesk_app_factory):
    from core.moderation import moderate

    app = plugdesk_app_factory(["auth_local"], extra={
        "a": Votes(Verdict.allow()), "b": Votes(Verdict.hold("new user")), "c": Votes(None)})
    user = create_user(app)
    decision = moderate(app.extensions["plugdesk"], user, PostInfo(kind="thread", title="t", body_html="b"))
    assert decision.action is VerdictAction.HOLD and ("b", "new user") in decision.reasons
    app2 = plugdesk_app_factory(["auth_local"], extra={
        "a": Votes(Verdict.reject("spam")), "b": Votes(Verdict.hold("new user"))})
    decision = moderate(app2.extensions["plugdesk"], user, PostInfo(kind="reply", title="", body_html="b"))
    assert decision.action is VerdictAction.REJECT


class Sweeper:
    @hookimpl
    def retention_sweep(self, now, dry_run):
        return SweepReport(plugin="sweeper", counts={"Support": {"closed": 2}}, dry_run=dry_run)


def test_retention_sweep_hook_is_called_with_now_and_dry_run(plugdesk_app_factory, hook_recorder):
    from datetime import UTC, datetime

    app = plugdesk_app_factory(["auth_local"], extra={"sweeper": Sweeper()})
    recorder = hook_recorder(app)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    reports = [r for _plugin, r in app.extensions["plugdesk"].host.each(
        "retention_sweep", now=now, dry_run=True, ctx=app.extensions["plugdesk"].ctx)]
    assert reports[0].counts == {"Support": {"closed": 2}} and reports[0].dry_run
    assert recorder.calls("retention_sweep")[0]["now"] == now


class WithSettings:
    @hookimpl
    def settings_schema(self):
        return [SettingSpec("plugins.withset.limit", "int", 5, "Limit", minimum=1, maximum=9, tab="Extra")]


class BadSettings:
    @hookimpl
    def settings_schema(self):
        return [SettingSpec("security.hijack", "bool", False, "No")]


def test_plugin_settings_schema_is_validated_and_stored(plugdesk_app_factory, hook_recorder):
    from core.runtime_settings import SettingsValidationError

    app = plugdesk_app_factory(["auth_local"], extra={"withset": WithSettings()})
    recorder = hook_recorder(app)
    runtime = app.extensions["plugdesk"].runtime
    assert runtime.get("plugins.withset.limit") == 5
    with pytest.raises(SettingsValidationError):
        runtime.patch({"plugins.withset.limit": 10}, actor="t")
    runtime.patch({"plugins.withset.limit": 7}, actor="t")
    assert app.extensions["plugdesk"].ctx.setting("plugins.withset.limit") == 7
    assert recorder.calls("setting_changed")[0]["new"] == 7
    with pytest.raises(StartupError, match="must start with 'plugins.badset.'"):
        plugdesk_app_factory(["auth_local"], extra={"badset": BadSettings()})


class Pages:
    @hookimpl
    def register_blueprints(self, ctx):
        from flask import Blueprint

        bp = Blueprint("pages_plugin", __name__)
        bp.add_url_rule("/hello-plugin", "hello", lambda: "hello from a plugin")
        return [bp]


def test_register_blueprints_mounts_plugin_pages_with_core_headers(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"], extra={"pages": Pages()})
    r = app.test_client().get("/hello-plugin")
    assert r.get_data(as_text=True) == "hello from a plugin"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_event_hook_failure_is_logged_not_raised(plugdesk_app_factory, caplog):
    class Broken:
        @hookimpl
        def user_registered(self, user):
            raise ValueError("mailer down")

    app = plugdesk_app_factory(["auth_local"], extra={"broken": Broken()})
    with caplog.at_level(logging.ERROR):
        user = create_user(app)
    assert user.id and "broken" in caplog.text


def test_auth_set_password_called_for_the_owning_provider(plugdesk_app_factory, hook_recorder):
    app = plugdesk_app_factory(["auth_local"])
    recorder = hook_recorder(app)
    user = create_user(app, username="kim")
    calls = recorder.calls("auth_set_password")
    assert len(calls) == 1 and calls[0]["user"].id == user.id and calls[0]["password"] == TEST_PASSWORD


class CaptchaA:
    @hookimpl
    def captcha_providers(self, ctx):
        from core.types import CaptchaProvider, CaptchaVerdict

        class Fixed(CaptchaProvider):
            name = "fixed"

            def render(self, purpose):
                return f'<input name="fixed" aria-label="Type yes for {purpose}">'

            def verify(self, form, purpose, remote_addr):
                return CaptchaVerdict(ok=form.get("fixed") == "yes", reason="wrong")

        return {"fixed": Fixed()}


def test_captcha_providers_registry_and_core_helper(plugdesk_app_factory):
    from core.captcha import captcha_needed, check_captcha, render_captcha

    app = plugdesk_app_factory(["auth_local"], extra={"ca": CaptchaA()}, overrides={"captcha": {"provider": "fixed"}})
    state = app.extensions["plugdesk"]
    assert not captcha_needed(state, "register")
    state.runtime.patch({"security.captcha.enabled": True, "security.captcha.provider": "fixed"}, actor="t")
    assert 'name="fixed"' in render_captcha(state, "register")
    assert check_captcha(state, {"fixed": "yes"}, "register", "127.0.0.1").ok
    assert not check_captcha(state, {}, "register", "127.0.0.1").ok
    verified = create_user(app, verified=True)
    assert not captcha_needed(state, "community_thread", verified)
    with pytest.raises(StartupError, match="two plugins claim captcha provider 'fixed'"):
        plugdesk_app_factory(["auth_local"], extra={"ca": CaptchaA(), "cb": CaptchaA()})


def test_plugin_diagnose_runs_through_cli(tmp_path):
    from click.testing import CliRunner

    from core.cli import main

    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[plugins]\nenabled = ["auth_local"]\n')
    r = CliRunner().invoke(main, ["--config", str(config), "plugins", "test", "auth_local"])
    assert r.exit_code == 1 and "has no connection test" in r.output


def test_plugin_diagnose_reports_steps(plugdesk_app_factory):
    from core.types import DiagnosticStep

    class Diag:
        @hookimpl
        def plugin_diagnose(self, provider, username):
            return [DiagnosticStep("connect", True, "ok"), DiagnosticStep("bind", False, f"{username}: 49")]

    app = plugdesk_app_factory(["auth_local"], extra={"diag": Diag()})
    host = app.extensions["plugdesk"].host
    steps = host.one("diag", "plugin_diagnose", ctx=None, provider=None, username="zed")
    assert [s.ok for s in steps] == [True, False] and "zed" in steps[1].detail


def test_plugins_page_shows_warnings_and_runs_connection_test(plugdesk_app_factory, login_as):
    import re

    from core.types import DiagnosticStep

    class Loud:
        @hookimpl
        def plugin_warnings(self, ctx):
            return ["TLS certificate validation is OFF for provider corp"]

        @hookimpl
        def plugin_diagnose(self, ctx, provider, username):
            return [DiagnosticStep("connect", True, "ldaps://dc1:636"), DiagnosticStep("bind", False, "data 52e")]

    app = plugdesk_app_factory(["auth_local"], extra={"loud": Loud()})
    admin, _ = login_as(app, "admin")
    page = admin.get("/manage/plugins").get_data(as_text=True)
    assert "TLS certificate validation is OFF for provider corp" in page and "Test connection" in page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    result = admin.post("/manage/plugins", data={"csrf_token": token, "plugin": "loud"}).get_data(as_text=True)
    assert "FAILED — bind: data 52e" in result and "OK — connect" in result
    manager, _ = login_as(app, "manager")
    assert "Test connection" not in manager.get("/manage/plugins").get_data(as_text=True)
