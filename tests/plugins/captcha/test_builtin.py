"""captcha_builtin: the contract, bad input, endpoints, the register form and API, several nodes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from core.captcha import captcha_challenge, check_captcha
from core.contracts.captcha import CaptchaProviderContract
from core.models import User
from core.plugins import StartupError
from plugins.captcha_builtin import BuiltinCaptcha, reveal_answer
from plugins.captcha_builtin.provider import ALPHABET
from plugins.captcha_builtin.tokens import ChallengeCodec, InvalidToken
from tests.plugins.captcha.conftest import enable_captcha, token_in

PASSWORD = "a long enough passphrase 42"


def provider_of(app: Flask) -> BuiltinCaptcha:
    return app.extensions["plugdesk"].captchas["builtin"]


def solved(provider: BuiltinCaptcha, purpose: str = "register") -> dict[str, str]:
    token = token_in(provider.render(purpose))
    return {"captcha_token": token, "captcha_answer": reveal_answer(token, provider.ctx.secret_key)}


class TestBuiltinContract(CaptchaProviderContract):
    """The built-in provider passes the shared contract."""

    plugin_name = "captcha_builtin"
    invalid_config = {"length": 3, "audio": "yes"}

    @pytest.fixture
    def provider(self, builtin_app: Flask) -> Iterator[BuiltinCaptcha]:
        with builtin_app.test_request_context():
            yield provider_of(builtin_app)

    @pytest.fixture
    def solve(self, provider: BuiltinCaptcha) -> Callable[[str], tuple[str, dict[str, str]]]:
        def solve(purpose: str) -> tuple[str, dict[str, str]]:
            html = provider.render(purpose)
            token = token_in(html)
            return html, {"captcha_token": token, "captcha_answer": reveal_answer(token, provider.ctx.secret_key)}

        return solve

    @pytest.fixture
    def expire(self, provider: BuiltinCaptcha) -> Callable[[], None]:
        real = provider.clock

        def expire() -> None:
            provider.clock = lambda: real() + 601

        return expire


@pytest.fixture
def provider(builtin_app: Flask) -> Iterator[BuiltinCaptcha]:
    with builtin_app.test_request_context():
        yield provider_of(builtin_app)


# ----------------------------------------------------------------------------- answers and tokens
@pytest.mark.parametrize("typed", [str.lower, lambda a: f"  {a}\t ", lambda a: " ".join(a), str.upper],
                         ids=["lower-case", "surrounding-spaces", "spaced-out", "as-shown"])
def test_answer_case_and_spaces_are_ignored(provider: BuiltinCaptcha, typed: Callable[[str], str]) -> None:
    form = solved(provider)
    form["captcha_answer"] = typed(form["captcha_answer"])
    assert provider.verify(form, "register", "198.51.100.1").ok


def test_wrong_answer_is_refused_and_burns_the_challenge(provider: BuiltinCaptcha) -> None:
    form = solved(provider)
    right = form["captcha_answer"]
    verdict = provider.verify({**form, "captcha_answer": "WRONG1"}, "register", "198.51.100.1")
    assert not verdict.ok and verdict.reason == "wrong answer" and "try" in verdict.message
    assert not provider.verify({**form, "captcha_answer": right}, "register", "198.51.100.1").ok  # one guess only


@pytest.mark.parametrize("answer", [None, "", "   ", "X" * 300])
def test_missing_or_silly_answer_is_refused(provider: BuiltinCaptcha, answer: str | None) -> None:
    form = solved(provider)
    if answer is None:
        del form["captcha_answer"]
    else:
        form["captcha_answer"] = answer
    assert not provider.verify(form, "register", "198.51.100.1").ok


def test_expiry_is_ten_minutes(provider: BuiltinCaptcha) -> None:
    real = provider.clock
    form = solved(provider)
    provider.clock = lambda: real() + 590
    assert provider.verify(form, "register", "198.51.100.1").ok
    form = solved(provider)
    provider.clock = lambda: real() + 590 + 601
    verdict = provider.verify(form, "register", "198.51.100.1")
    assert not verdict.ok and "expired" in verdict.reason and "expired" in verdict.message


def test_tampered_and_foreign_tokens_are_refused(provider: BuiltinCaptcha) -> None:
    form = solved(provider)
    token = form["captcha_token"]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert not provider.verify({**form, "captcha_token": flipped}, "register", "x").ok
    payload, signature = token.split(".")
    assert not provider.verify({**form, "captcha_token": payload[:-2] + "xx." + signature}, "register", "x").ok
    foreign = ChallengeCodec("another-secret").seal("register", "ABCDEF", 2**40)
    assert not provider.verify({"captcha_token": foreign, "captcha_answer": "ABCDEF"}, "register", "x").ok
    with pytest.raises(InvalidToken):
        reveal_answer(foreign, provider.ctx.secret_key)


def test_answers_are_random_and_use_the_safe_alphabet(provider: BuiltinCaptcha) -> None:
    answers = [reveal_answer(provider.new_token("register"), provider.ctx.secret_key) for _ in range(40)]
    assert len(set(answers)) == 40
    assert all(len(a) == 6 and set(a) <= set(ALPHABET) for a in answers)


def test_render_is_accessible_and_uses_only_local_scripts(provider: BuiltinCaptcha) -> None:
    html = provider.render("register")
    answer_id = re.search(r'<input id="([^"]+)" name="captcha_answer"', html).group(1)
    assert f'<label for="{answer_id}">' in html
    assert re.search(r'<img [^>]*alt="[^"]{20,}"', html)
    label_id = re.search(r'<audio [^>]*aria-labelledby="([^"]+)"', html).group(1)
    assert f'id="{label_id}"' in html and "<audio controls" in html
    assert '<button type="button" class="captcha-new' in html and ">New challenge</button>" in html
    assert 'role="status"' in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/captcha/builtin/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "onclick" not in html and "style=" not in html
    assert token_in(html) != token_in(provider.render("register"))


# ----------------------------------------------------------------------------- endpoints
def test_image_and_audio_endpoints(builtin_app: Flask) -> None:
    client = builtin_app.test_client()
    token = client.get("/captcha/builtin/challenge/register").get_json()["token"]
    image = client.get(f"/captcha/builtin/image/{token}.png")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.headers["Cache-Control"] == "no-store"
    audio = client.get(f"/captcha/builtin/audio/{token}.wav")
    assert audio.status_code == 200 and audio.mimetype == "audio/wav" and audio.data[:4] == b"RIFF"
    assert audio.data[8:12] == b"WAVE" and len(audio.data) > 20000
    assert client.get("/captcha/builtin/image/not-a-token.png").status_code == 404
    with builtin_app.app_context():
        used = provider_of(builtin_app).verify({"captcha_token": token, "captcha_answer": "x"}, "register", "x")
    assert not used.ok
    assert client.get(f"/captcha/builtin/image/{token}.png").status_code == 410  # used challenges are gone


def test_expired_challenge_media_is_gone(builtin_app: Flask) -> None:
    provider = provider_of(builtin_app)
    token = provider.new_token("register")
    real = provider.clock
    provider.clock = lambda: real() + 601
    assert builtin_app.test_client().get(f"/captcha/builtin/audio/{token}.wav").status_code == 410


def test_challenge_endpoint_gives_fresh_tokens(builtin_app: Flask) -> None:
    client = builtin_app.test_client()
    first = client.get("/captcha/builtin/challenge/ticket")
    second = client.get("/captcha/builtin/challenge/ticket").get_json()
    body = first.get_json()
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert body["token"] != second["token"] and body["expires_in"] == 600
    assert body["image_url"] == f"/captcha/builtin/image/{body['token']}.png"
    assert body["audio_url"] == f"/captcha/builtin/audio/{body['token']}.wav"
    assert body["fields"] == {"token": "captcha_token", "answer": "captcha_answer"}
    assert client.get("/captcha/builtin/challenge/Bad-Purpose!").status_code == 404
    with builtin_app.app_context():
        provider = provider_of(builtin_app)
        answer = reveal_answer(body["token"], provider.ctx.secret_key)
        assert not provider.verify({"captcha_token": body["token"], "captcha_answer": answer}, "register", "x").ok
        assert provider.verify({"captcha_token": body["token"], "captcha_answer": answer}, "ticket", "x").ok


def test_media_endpoints_are_rate_limited(plugdesk_app_factory: Callable[..., Flask]) -> None:
    app = plugdesk_app_factory(["auth_local", "captcha_builtin"],
                               overrides={"plugins": {"captcha_builtin": {"media_per_minute": 3}}})
    client = app.test_client()
    token = client.get("/captcha/builtin/challenge/register").get_json()["token"]  # 1
    assert client.get(f"/captcha/builtin/image/{token}.png").status_code == 200  # 2
    assert client.get(f"/captcha/builtin/audio/{token}.wav").status_code == 200  # 3
    refused = client.get(f"/captcha/builtin/image/{token}.png")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert client.get("/captcha/builtin/challenge/register").status_code == 429
    other = client.get(f"/captcha/builtin/image/{token}.png", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200  # the limit is per client address


@pytest.mark.parametrize("table, key", [({"length": 99}, "length"), ({"ttl_seconds": "600"}, "ttl_seconds"),
                                        ({"audio": "yes"}, "audio"), ({"colour": "red"}, "colour")])
def test_bad_config_stops_startup_naming_the_key(plugdesk_app_factory: Callable[..., Flask], table: dict,
                                                 key: str) -> None:
    with pytest.raises(StartupError, match=rf"captcha_builtin.*{key}"):
        plugdesk_app_factory(["auth_local", "captcha_builtin"], overrides={"plugins": {"captcha_builtin": table}})


def test_audio_can_be_switched_off(plugdesk_app_factory: Callable[..., Flask]) -> None:
    app = plugdesk_app_factory(["auth_local", "captcha_builtin"],
                               overrides={"plugins": {"captcha_builtin": {"audio": False, "length": 5}}})
    with app.test_request_context():
        provider = provider_of(app)
        html = provider.render("register")
        assert "<audio" not in html and len(reveal_answer(token_in(html), provider.ctx.secret_key)) == 5
    assert app.test_client().get(f"/captcha/builtin/audio/{token_in(html)}.wav").status_code == 404


# ----------------------------------------------------------------------------- through the core helper and forms
def test_limits_store_down_fails_closed(plugdesk_app_factory: Callable[..., Flask]) -> None:
    app = plugdesk_app_factory(["auth_local", "captcha_builtin"], overrides={"limits": {"storage": "redis://127.0.0.1:9/0"}})
    enable_captcha(app, "builtin")
    with app.test_request_context():
        state = app.extensions["plugdesk"]
        verdict = check_captcha(state, solved(provider_of(app)), "register", "198.51.100.1")
    assert not verdict.ok and verdict.reason == "provider error"


def register_form(**extra: str) -> dict[str, str]:
    return {"username": "carol", "email": "carol@example.com", "display_name": "Carol Example",
            "password": PASSWORD, "confirm": PASSWORD, **extra}


def test_register_form_keeps_values_on_a_wrong_answer_then_accepts_the_right_one(builtin_app: Flask) -> None:
    enable_captcha(builtin_app, "builtin")
    client = builtin_app.test_client()
    first = token_in(client.get("/register").get_data(as_text=True))
    refused = client.post("/register", data=register_form(captcha_token=first, captcha_answer="NOPE99"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'value="carol"' in page and 'value="carol@example.com"' in page and 'value="Carol Example"' in page
    assert "did not match" in page
    second = token_in(page)
    assert second != first
    answer = reveal_answer(second, builtin_app.config["SECRET_KEY"])
    accepted = client.post("/register", data=register_form(captcha_token=second, captcha_answer=f" {answer.lower()} "))
    assert accepted.status_code == 302
    with builtin_app.extensions["plugdesk"].db.session() as s:
        assert s.query(User).filter_by(username="carol").count() == 1


@pytest.mark.parametrize("fields", [{}, {"captcha_token": ""}, {"captcha_token": "A" * 10240, "captcha_answer": "A"}],
                         ids=["missing", "empty", "10KB"])
def test_register_form_refuses_bad_tokens(builtin_app: Flask, fields: dict[str, str]) -> None:
    enable_captcha(builtin_app, "builtin")
    response = builtin_app.test_client().post("/register", data=register_form(**fields))
    assert response.status_code == 400 and 'value="carol@example.com"' in response.get_data(as_text=True)
    with builtin_app.extensions["plugdesk"].db.session() as s:
        assert s.query(User).filter_by(username="carol").count() == 0


def test_register_api_with_a_challenge(builtin_app: Flask) -> None:
    enable_captcha(builtin_app, "builtin")
    with builtin_app.test_request_context():
        challenge = captcha_challenge(builtin_app.extensions["plugdesk"], "register")
    assert challenge["required"] is True and challenge["provider"] == "builtin"
    answer = reveal_answer(challenge["token"], builtin_app.config["SECRET_KEY"])
    body = {"username": "dave", "email": "dave@example.com", "password": PASSWORD,
            "captcha_token": challenge["token"], "captcha_answer": answer.lower()}
    client = builtin_app.test_client()
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    replay = client.post("/api/v1/auth/register", json={**body, "username": "dave2", "email": "d2@example.com"})
    assert replay.status_code == 422 and replay.get_json()["errors"]["captcha"]


def test_no_captcha_when_switched_off(builtin_app: Flask) -> None:
    with builtin_app.test_request_context():
        assert captcha_challenge(builtin_app.extensions["plugdesk"], "register") == {"required": False}
    page = builtin_app.test_client().get("/register").get_data(as_text=True)
    assert "captcha_token" not in page


@pytest.mark.slow
def test_challenge_works_across_nodes_with_redis(plugdesk_app_factory: Callable[..., Flask], redis_clean: str) -> None:
    """Rendered on node A, answered on node B, replay refused on A: state is the token + Redis."""
    shared = {"limits": {"storage": redis_clean}}
    node_a = plugdesk_app_factory(["auth_local", "captcha_builtin"], overrides=shared)
    node_b = plugdesk_app_factory(["auth_local", "captcha_builtin"], overrides=shared)
    with node_a.test_request_context():
        form = solved(provider_of(node_a))
    with node_b.test_request_context():
        assert provider_of(node_b).verify(form, "register", "198.51.100.1").ok
    with node_a.test_request_context():
        verdict = provider_of(node_a).verify(form, "register", "198.51.100.1")
    assert not verdict.ok and "replay" in verdict.reason
    import redis

    keys = redis.Redis.from_url(redis_clean).keys("plugdesk:captcha_builtin:used:*")
    assert len(keys) == 1
