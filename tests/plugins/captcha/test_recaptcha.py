"""captcha_recaptcha against a local siteverify stub: the contract, every error code, fail-closed cases."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from core.captcha import check_captcha
from core.contracts.captcha import CaptchaProviderContract
from core.plugins import StartupError
from plugins.captcha_recaptcha import RecaptchaCaptcha
from tests.plugins.captcha.conftest import RECAPTCHA_SECRET, SITE_KEY, enable_captcha
from tests.plugins.captcha.siteverify_stub import SiteverifyStub

FIELD = "g-recaptcha-response"
IP = "198.51.100.23"


def provider_of(app: Flask) -> RecaptchaCaptcha:
    return app.extensions["plugdesk"].captchas["recaptcha"]


class RecaptchaContract(CaptchaProviderContract):
    """Shared setup; the stub plays Google and hands out response tokens like the widget would."""

    answer_field = FIELD
    token_field = FIELD
    version = "v2"
    plugin_name = "captcha_recaptcha"
    overrides = {"plugins": {"captcha_recaptcha": {"site_key": "site-key", "secret": "secret"}}}
    invalid_config = {"version": "v4", "site_key": 42}

    @pytest.fixture
    def provider(self, recaptcha_app_factory: Callable[..., Flask]) -> Iterator[RecaptchaCaptcha]:
        app = recaptcha_app_factory(self.version)
        with app.test_request_context():
            yield provider_of(app)

    @pytest.fixture
    def solve(self, provider: RecaptchaCaptcha, stub: SiteverifyStub) -> Callable[[str], tuple[str, dict]]:
        def solve(purpose: str) -> tuple[str, dict[str, str]]:
            html = provider.render(purpose)
            if self.version == "v3":
                token = stub.issue(action=provider.config.action_for(purpose), score=0.9)
            else:
                token = stub.issue()
            return html, {FIELD: token}

        return solve

    @pytest.fixture
    def expire(self, provider: RecaptchaCaptcha) -> Callable[[], None]:
        real = provider.clock

        def expire() -> None:
            provider.clock = lambda: real() + 601

        return expire


class TestRecaptchaV2Contract(RecaptchaContract):
    version = "v2"
    binds_purpose = False
    purpose_note = "reCAPTCHA v2 answers carry no action, so a v2 solution cannot be tied to one form"


class TestRecaptchaV3Contract(RecaptchaContract):
    version = "v3"


@pytest.fixture
def v3(recaptcha_app_factory: Callable[..., Flask]) -> Iterator[RecaptchaCaptcha]:
    app = recaptcha_app_factory("v3")
    with app.test_request_context():
        yield provider_of(app)


@pytest.fixture
def v2(recaptcha_app_factory: Callable[..., Flask]) -> Iterator[RecaptchaCaptcha]:
    app = recaptcha_app_factory("v2")
    with app.test_request_context():
        yield provider_of(app)


# ----------------------------------------------------------------------------- what is sent, what is shown
def test_posts_secret_response_and_remoteip(v2: RecaptchaCaptcha, stub: SiteverifyStub) -> None:
    token = stub.issue()
    assert v2.verify({FIELD: token}, "register", IP).ok
    sent = stub.requests[-1]
    assert sent["secret"] == RECAPTCHA_SECRET and sent["response"] == token and sent["remoteip"] == IP
    assert sent["_content_type"] == "application/x-www-form-urlencoded"


def test_render_v2_and_v3_never_contain_the_secret(v2: RecaptchaCaptcha, v3: RecaptchaCaptcha) -> None:
    html2, html3 = v2.render("register"), v3.render("community_thread")
    assert f'class="g-recaptcha" data-sitekey="{SITE_KEY}"' in html2
    assert 'src="https://www.google.com/recaptcha/api.js"' in html2
    assert f"api.js?render={SITE_KEY}" in html3 and 'data-action="community_thread"' in html3
    assert 'src="/captcha/recaptcha/static/recaptcha-v3.js"' in html3
    for html in (html2, html3):
        assert RECAPTCHA_SECRET not in html
    assert RECAPTCHA_SECRET not in repr(v3.config) and RECAPTCHA_SECRET not in str(v3.api_challenge("register"))
    assert v3.api_challenge("register") == {"site_key": SITE_KEY, "version": "v3", "action": "register",
                                            "fields": {"response": FIELD}}


def test_register_page_allows_google_in_its_csp_only(recaptcha_app_factory: Callable[..., Flask]) -> None:
    app = recaptcha_app_factory("v3")
    enable_captcha(app, "recaptcha")
    client = app.test_client()
    page = client.get("/register")
    csp = dict(d.strip().split(" ", 1) for d in page.headers["Content-Security-Policy"].split(";"))
    assert "https://www.google.com/recaptcha/" in csp["script-src"] and "'self'" in csp["script-src"]
    assert "https://www.google.com/recaptcha/api.js" in csp["script-src"]
    assert "https://www.google.com/recaptcha/" in csp["frame-src"] and csp["frame-ancestors"] == "'self'"
    assert "google" not in client.get("/login").headers["Content-Security-Policy"]
    js = client.get("/captcha/recaptcha/static/recaptcha-v3.js")
    assert js.status_code == 200 and "grecaptcha.execute" in js.get_data(as_text=True)


# ----------------------------------------------------------------------------- each documented error code
ERROR_CODES = ["missing-input-secret", "invalid-input-secret", "missing-input-response", "invalid-input-response",
               "bad-request", "timeout-or-duplicate"]


@pytest.mark.parametrize("code", ERROR_CODES)
def test_each_documented_error_code_is_refused_and_logged(code: str, v2: RecaptchaCaptcha, stub: SiteverifyStub,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    stub.forced_codes = [code]
    with caplog.at_level(logging.INFO):
        verdict = v2.verify({FIELD: stub.issue()}, "register", IP)
    assert not verdict.ok and code in verdict.reason
    assert verdict.message == "We could not confirm that you are a person. Please try again."
    assert code in caplog.text and RECAPTCHA_SECRET not in caplog.text
    config_problem = code in ("missing-input-secret", "invalid-input-secret", "bad-request")
    levels = {r.levelno for r in caplog.records if code in r.getMessage() and r.name.endswith("captcha_recaptcha")}
    assert levels == ({logging.ERROR} if config_problem else {logging.WARNING})


def test_wrong_secret_gets_invalid_input_secret(v2: RecaptchaCaptcha, stub: SiteverifyStub) -> None:
    stub.secret = "rotated-at-google"
    verdict = v2.verify({FIELD: stub.issue()}, "register", IP)
    assert not verdict.ok and "invalid-input-secret" in verdict.reason


def test_forged_token_gets_invalid_input_response(v2: RecaptchaCaptcha) -> None:
    verdict = v2.verify({FIELD: "03A-forged-" + "x" * 40}, "register", IP)
    assert not verdict.ok and "invalid-input-response" in verdict.reason


def test_reuse_on_another_node_gets_timeout_or_duplicate(recaptcha_app_factory: Callable[..., Flask],
                                                         stub: SiteverifyStub) -> None:
    """Two nodes with separate memory:// stores: only Google can see the reuse, and it is still refused."""
    token = stub.issue()
    assert provider_of(recaptcha_app_factory("v2")).verify({FIELD: token}, "register", IP).ok
    verdict = provider_of(recaptcha_app_factory("v2")).verify({FIELD: token}, "register", IP)
    assert not verdict.ok and "timeout-or-duplicate" in verdict.reason


def test_local_replay_check_saves_a_siteverify_call(v2: RecaptchaCaptcha, stub: SiteverifyStub) -> None:
    token = stub.issue()
    assert v2.verify({FIELD: token}, "register", IP).ok
    calls = len(stub.requests)
    verdict = v2.verify({FIELD: token}, "register", IP)
    assert not verdict.ok and "replay" in verdict.reason and len(stub.requests) == calls


@pytest.mark.parametrize("value", [None, "", "A" * 10240], ids=["missing", "empty", "10KB"])
def test_bad_tokens_never_reach_siteverify(v2: RecaptchaCaptcha, stub: SiteverifyStub, value: str | None) -> None:
    form = {} if value is None else {FIELD: value}
    assert not v2.verify(form, "register", IP).ok
    assert stub.requests == []


# ----------------------------------------------------------------------------- fail closed
@pytest.mark.parametrize("mode, reason", [("500", "HTTP 500"), ("503", "HTTP 503"), ("nonjson", "not JSON")])
def test_broken_siteverify_fails_closed(v2: RecaptchaCaptcha, stub: SiteverifyStub, mode: str, reason: str) -> None:
    stub.mode = mode
    verdict = v2.verify({FIELD: stub.issue()}, "register", IP)
    assert not verdict.ok and reason in verdict.reason and "try again" in verdict.message


@pytest.mark.slow
def test_hung_siteverify_is_refused_within_the_timeout(v2: RecaptchaCaptcha, stub: SiteverifyStub,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    stub.mode = "hang"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        verdict = v2.verify({FIELD: stub.issue()}, "register", IP)
    elapsed = time.monotonic() - started
    assert not verdict.ok and "timed out" in verdict.reason
    assert v2.config.timeout_seconds <= elapsed < v2.config.timeout_seconds + 1.0
    assert "timed out" in caplog.text and RECAPTCHA_SECRET not in caplog.text


def test_unreachable_siteverify_fails_closed(recaptcha_app_factory: Callable[..., Flask]) -> None:
    from tests.realservers import free_port

    app = recaptcha_app_factory("v2", verify_url=f"http://127.0.0.1:{free_port()}/siteverify")
    verdict = provider_of(app).verify({FIELD: "03A" + "t" * 50}, "register", IP)
    assert not verdict.ok and "unreachable" in verdict.reason


def test_wrong_hostname_is_refused(v2: RecaptchaCaptcha, stub: SiteverifyStub) -> None:
    verdict = v2.verify({FIELD: stub.issue(hostname="evil.example")}, "register", IP)
    assert not verdict.ok and "evil.example" in verdict.reason


def test_extra_hostnames_are_accepted(recaptcha_app_factory: Callable[..., Flask], stub: SiteverifyStub) -> None:
    provider = provider_of(recaptcha_app_factory("v2", hostnames=["Help.Example.com"]))
    assert provider.verify({FIELD: stub.issue(hostname="help.example.com")}, "register", IP).ok
    assert provider.verify({FIELD: stub.issue(hostname="127.0.0.1")}, "register", IP).ok


def test_hostname_follows_base_url(recaptcha_app_factory: Callable[..., Flask], stub: SiteverifyStub) -> None:
    app = recaptcha_app_factory("v2", overrides={"server": {"base_url": "https://desk.example.org/help"}})
    provider = provider_of(app)
    assert provider.verify({FIELD: stub.issue(hostname="desk.example.org")}, "register", IP).ok
    assert not provider.verify({FIELD: stub.issue(hostname="127.0.0.1")}, "register", IP).ok


@pytest.mark.parametrize("ts", ["", "yesterday", None], ids=["empty", "garbage", "old"])
def test_missing_or_old_challenge_ts_is_refused(v2: RecaptchaCaptcha, stub: SiteverifyStub, ts: str | None) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = stub.issue(challenge_ts=ts if ts is not None else old)
    if ts == "":
        stub.tokens[token]["challenge_ts"] = ""
    assert not v2.verify({FIELD: token}, "register", IP).ok


@pytest.mark.parametrize("score, ok", [(0.9, True), (0.5, True), (0.49, False), (0.1, False)])
def test_v3_score_threshold_defaults_to_half(v3: RecaptchaCaptcha, stub: SiteverifyStub, score: float,
                                             ok: bool) -> None:
    verdict = v3.verify({FIELD: stub.issue(action="register", score=score)}, "register", IP)
    assert verdict.ok is ok
    if not ok:
        assert "below 0.5" in verdict.reason


def test_v3_custom_threshold_and_actions(recaptcha_app_factory: Callable[..., Flask], stub: SiteverifyStub) -> None:
    provider = provider_of(recaptcha_app_factory("v3", score_threshold=0.8, actions={"ticket": "submit_ticket"}))
    assert not provider.verify({FIELD: stub.issue(action="submit_ticket", score=0.7)}, "ticket", IP).ok
    assert provider.verify({FIELD: stub.issue(action="submit_ticket", score=0.8)}, "ticket", IP).ok
    wrong = provider.verify({FIELD: stub.issue(action="ticket", score=0.9)}, "ticket", IP)
    assert not wrong.ok and "'submit_ticket'" in wrong.reason


def test_v3_wrong_action_and_missing_score_are_refused(v3: RecaptchaCaptcha, stub: SiteverifyStub) -> None:
    wrong = v3.verify({FIELD: stub.issue(action="login", score=0.9)}, "register", IP)
    assert not wrong.ok and "action 'login'" in wrong.reason
    unscored = v3.verify({FIELD: stub.issue(action="register")}, "register", IP)
    assert not unscored.ok and "no score" in unscored.reason


# ----------------------------------------------------------------------------- configuration and settings
@pytest.mark.parametrize("table, key", [
    ({"site_key": "abc"}, "secret"), ({"secret": "s"}, "site_key"), ({"version": "v4"}, "version"),
    ({"score_threshold": 1.5}, "score_threshold"), ({"verify_url": "ftp://x"}, "verify_url"),
    ({"actions": {"register": "bad action!"}}, "actions"), ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"csp_script_src": ["'unsafe-inline'"]}, "csp_script_src"), ({"sitekey": "typo"}, "sitekey")])
def test_bad_config_stops_startup_naming_the_key(plugdesk_app_factory: Callable[..., Flask], table: dict,
                                                 key: str) -> None:
    with pytest.raises(StartupError, match=rf"captcha_recaptcha.*{key}"):
        plugdesk_app_factory(["auth_local", "captcha_recaptcha"], overrides={"plugins": {"captcha_recaptcha": table}})


def test_secret_from_env_is_never_shown(stub: SiteverifyStub, tmp_path) -> None:
    from core.app import create_app
    from core.settings import load_settings

    overrides = {"server": {"data_dir": str(tmp_path), "secret_key": "k" * 32}, "captcha": {"provider": "recaptcha"},
                 "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                 "plugins": {"enabled": ["auth_local", "captcha_recaptcha"], "captcha_recaptcha": {
                     "site_key": SITE_KEY, "secret": {"$env": "RECAPTCHA_SECRET"}, "verify_url": stub.url}}}
    settings = load_settings(None, overrides=overrides, environ={"RECAPTCHA_SECRET": RECAPTCHA_SECRET})
    app = create_app(settings)
    provider = provider_of(app)
    assert provider.config.secret == RECAPTCHA_SECRET
    assert provider.verify({FIELD: stub.issue()}, "register", IP).ok
    assert RECAPTCHA_SECRET not in repr(settings) and RECAPTCHA_SECRET not in str(settings.redacted())
    with app.test_request_context():
        assert RECAPTCHA_SECRET not in provider.render("register")


def test_choosing_recaptcha_without_keys_is_refused(recaptcha_app_factory: Callable[..., Flask]) -> None:
    from core.runtime_settings import SettingsValidationError

    app = recaptcha_app_factory("v2", keys=False, overrides={"plugins": {"enabled": ["auth_local", "captcha_recaptcha",
                                                                                     "captcha_builtin"]}})
    runtime = app.extensions["plugdesk"].runtime
    with pytest.raises(SettingsValidationError) as refused:
        runtime.patch({"security.captcha.enabled": True, "security.captcha.provider": "recaptcha"}, actor="t")
    reason = refused.value.errors["security.captcha.provider"]
    assert "site_key and secret" in reason and "[plugins.captcha_recaptcha]" in reason
    runtime.patch({"security.captcha.provider": "recaptcha"}, actor="t")  # allowed while captcha is off
    with pytest.raises(SettingsValidationError):
        runtime.patch({"security.captcha.enabled": True}, actor="t")
    runtime.patch({"security.captcha.enabled": True, "security.captcha.provider": "builtin"}, actor="t")
    with app.test_request_context():
        verdict = check_captcha(app.extensions["plugdesk"], {FIELD: "x"}, "register", IP)
        assert not verdict.ok  # builtin is active and the form has no builtin token


def test_settings_page_shows_the_reason(recaptcha_app_factory: Callable[..., Flask], login_as) -> None:
    app = recaptcha_app_factory("v2", keys=False)
    client, _admin = login_as(app, "admin")
    runtime = app.extensions["plugdesk"].runtime
    data = {}  # the General tab as the browser would post it, unchanged except for the captcha fields
    for key, spec in runtime.specs.items():
        value = runtime.get(key)
        if spec.tab != "General" or (spec.type == "bool" and not value):
            continue
        data[key] = "on" if spec.type == "bool" else "\n".join(value) if spec.type == "list" else str(value)
    data.update({"security.captcha.enabled": "on", "security.captcha.provider": "recaptcha"})
    response = client.post("/manage/settings/general", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was saved" in page and "site_key and secret" in page
    assert app.extensions["plugdesk"].runtime.get("security.captcha.enabled") is False


def test_keys_missing_fails_closed_even_if_selected(recaptcha_app_factory: Callable[..., Flask]) -> None:
    app = recaptcha_app_factory("v2", keys=False)
    with app.test_request_context():
        provider = provider_of(app)
        assert "site_key and secret" in provider.unavailable_reason()
        verdict = provider.verify({FIELD: "03A" + "t" * 50}, "register", IP)
    assert not verdict.ok and "not configured" in verdict.reason


def test_register_form_with_recaptcha(recaptcha_app_factory: Callable[..., Flask], stub: SiteverifyStub) -> None:
    app = recaptcha_app_factory("v2")
    enable_captcha(app, "recaptcha")
    client = app.test_client()
    form = {"username": "erin", "email": "erin@example.com", "display_name": "Erin", "password": "x" * 16,
            "confirm": "x" * 16}
    refused = client.post("/register", data={**form, FIELD: "03A-not-from-google"})
    assert refused.status_code == 400 and "Please try again" in refused.get_data(as_text=True)
    assert 'value="erin@example.com"' in refused.get_data(as_text=True)
    accepted = client.post("/register", data={**form, FIELD: stub.issue()})
    assert accepted.status_code == 302
    assert stub.requests[-1]["remoteip"] == "127.0.0.1"
