"""``CaptchaProviderContract``: what every captcha provider must guarantee. Subclass it in your tests.

The subclass supplies three fixtures:

* ``provider`` - the :class:`core.types.CaptchaProvider` under test (built through the app, so it has a real
  ``ctx``; keep a request context pushed if ``render`` needs one).
* ``solve`` - ``solve(purpose) -> (html, form)``: render a challenge for ``purpose`` and return the fragment
  plus the form fields a person who solved it would submit.
* ``expire`` - ``expire()``: make every challenge issued so far too old (e.g. advance the provider's clock).

and may override the class attributes below. Example::

    class TestMyCaptcha(CaptchaProviderContract):
        answer_field = "my_answer"
        token_field = "my_token"
        plugin_name = "mycaptcha"           # with plugin/overrides/invalid_config: configuration refusal
        invalid_config = {"ttl_seconds": "ten minutes"}  # is checked too (:mod:`core.contracts.config`)

        @pytest.fixture
        def provider(self, app): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.contracts.config import ConfigurationContract
from core.types import CaptchaProvider, CaptchaVerdict

Solver = Callable[[str], tuple[str, dict[str, str]]]


class CaptchaProviderContract(ConfigurationContract):
    """Pytest class suite. Not collected itself (no ``Test`` prefix); subclasses are."""

    #: the field whose value is the secret answer (must never appear in the rendered page)
    answer_field: str = "captcha_answer"
    #: the field carrying the challenge token (tested with missing, empty and 10 KB values)
    token_field: str = "captcha_token"
    purpose: str = "register"
    other_purpose: str = "ticket"
    remote_addr: str = "203.0.113.7"
    #: ``False`` only for providers that cannot tell purposes apart (reCAPTCHA v2 has no action); say why
    binds_purpose: bool = True
    purpose_note: str = ""

    # ------------------------------------------------------------------ fixtures the subclass provides
    @pytest.fixture
    def provider(self) -> CaptchaProvider:
        """The provider under test."""
        raise NotImplementedError("subclasses provide a `provider` fixture")

    @pytest.fixture
    def solve(self, provider: CaptchaProvider) -> Solver:
        """``solve(purpose) -> (html, form)`` for a correctly solved challenge."""
        raise NotImplementedError("subclasses provide a `solve` fixture")

    @pytest.fixture
    def expire(self, provider: CaptchaProvider) -> Callable[[], None]:
        """Make every challenge issued so far expire."""
        raise NotImplementedError("subclasses provide an `expire` fixture")

    # ------------------------------------------------------------------ helpers
    def check(self, provider: CaptchaProvider, form: dict[str, Any], purpose: str | None = None) -> CaptchaVerdict:
        """Call ``verify`` and check the verdict's shape."""
        verdict = provider.verify(form, purpose or self.purpose, self.remote_addr)
        assert isinstance(verdict, CaptchaVerdict)
        if not verdict.ok:
            assert verdict.reason, "a refusal must carry a reason for the log"
            assert verdict.message, "a refusal must carry a message for the user"
        return verdict

    # ------------------------------------------------------------------ the contract
    def test_has_a_name(self, provider: CaptchaProvider) -> None:
        assert isinstance(provider.name, str) and provider.name

    def test_render_never_contains_the_answer(self, provider: CaptchaProvider, solve: Solver) -> None:
        for purpose in (self.purpose, self.other_purpose):
            html, form = solve(purpose)
            assert isinstance(html, str) and html.strip()
            answer = form[self.answer_field]
            assert answer and answer.lower() not in html.lower()

    def test_correct_answer_passes_once(self, provider: CaptchaProvider, solve: Solver) -> None:
        _html, form = solve(self.purpose)
        assert self.check(provider, dict(form)).ok
        assert not self.check(provider, dict(form)).ok

    def test_replay_on_a_later_request_fails(self, provider: CaptchaProvider, solve: Solver) -> None:
        _html, first = solve(self.purpose)
        _html, second = solve(self.purpose)
        assert self.check(provider, dict(first)).ok
        assert self.check(provider, dict(second)).ok
        assert not self.check(provider, dict(first)).ok
        assert not self.check(provider, dict(second)).ok

    def test_other_purpose_fails(self, provider: CaptchaProvider, solve: Solver) -> None:
        if not self.binds_purpose:
            pytest.skip(self.purpose_note or "provider cannot bind a solution to a purpose")
        _html, form = solve(self.purpose)
        assert not self.check(provider, dict(form), self.other_purpose).ok

    @pytest.mark.parametrize("value", [None, "", "   ", "A" * 10240], ids=["missing", "empty", "blank", "10KB"])
    def test_bad_token_fails(self, provider: CaptchaProvider, solve: Solver, value: str | None) -> None:
        _html, form = solve(self.purpose)
        form = dict(form)
        if value is None:
            form.pop(self.token_field, None)
        else:
            form[self.token_field] = value
        assert not self.check(provider, form).ok

    def test_empty_form_fails(self, provider: CaptchaProvider) -> None:
        assert not self.check(provider, {}).ok

    def test_expired_fails(self, provider: CaptchaProvider, solve: Solver, expire: Callable[[], None]) -> None:
        _html, form = solve(self.purpose)
        expire()
        assert not self.check(provider, dict(form)).ok

    def test_api_challenge_is_json(self, provider: CaptchaProvider) -> None:
        import json

        challenge = provider.api_challenge(self.purpose)
        assert isinstance(challenge, dict)
        json.dumps(challenge)
