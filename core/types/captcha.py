"""Captcha providers and their verdicts.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class CaptchaProvider(abc.ABC):
    """A captcha implementation (single choice: ``[captcha] provider``).

    Attributes:
        name: the name admins choose it by (``[captcha] provider`` and the Settings > Security captcha
            type); the key your ``captcha_providers`` returns it under.
    """

    name: str = ""

    @abc.abstractmethod
    def render(self, purpose: str) -> str:
        """Return the HTML fragment to place inside a form for ``purpose`` (e.g. ``"register"``).

        The fragment must never contain the answer.
        """

    @abc.abstractmethod
    def verify(self, form: Mapping[str, str], purpose: str, remote_addr: str) -> CaptchaVerdict:
        """Check the submitted form fields; single use, bound to ``purpose``; fail closed."""

    def api_challenge(self, purpose: str) -> dict[str, Any]:
        """Return a JSON-able challenge for API clients (optional)."""
        return {}


@dataclass(frozen=True)
class CaptchaVerdict:
    """Outcome of a captcha check.

    Attributes:
        ok: the answer is right, fresh, for this purpose and not used before.
        reason: why not, for the log (e.g. ``"expired"``, ``"reused"``); never the answer itself.
        message: what the person reads next to the form when ``ok`` is ``False``.
    """

    ok: bool
    reason: str = ""
    message: str = "The captcha answer was not accepted. Please try again."
