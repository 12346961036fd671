"""What a plugin declares about itself: configuration errors, runtime settings, diagnostic steps.

Part of :mod:`core.types`; import these names from ``core`` (plugins) or ``core.types``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PluginConfigError(ValueError):
    """Raised by a plugin's ``parse_config`` for a bad value in its ``[plugins.NAME]`` table.

    :param key: the offending key inside the plugin's table.
    :param message: what is wrong and what is accepted.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class SettingSpec:
    """A runtime setting shown in the admin UI and editable by API and CLI.

    Values are exact JSON types (``"10"`` is not a number; web forms are converted first).

    Attributes:
        key: the dotted key, ``plugins.NAME.something`` for a plugin's setting (anything else stops startup).
        type: ``"bool"``, ``"int"``, ``"str"``, ``"list"`` (of strings) or ``"choice"`` (one of ``choices``).
        default: the value until an admin changes it (must itself be valid).
        label: the field's label in the admin UI, and the prefix of its error messages.
        help: one or two sentences under the field.
        choices: the allowed values of a ``"choice"`` setting.
        minimum: the smallest allowed ``"int"`` (``None``: no lower bound).
        maximum: the largest allowed ``"int"`` (``None``: no upper bound).
        secret: marks a value that should not be displayed. Not honoured by the admin UI yet: keep secrets in
            the plugin's configuration table (``{ "$env" = "NAME" }``), not in runtime settings.
        tab: the Settings page tab it appears on (a new name adds a tab).
        validate: ``Callable[[Any], Any] | None``: called with the type-checked value; returns it normalised
            or raises ``ValueError`` with a message for the admin.
        warn: ``Callable[[Any], list[str]] | None``: for accepted values the admin should think twice about;
            the returned lines are shown after saving.
    """

    key: str
    type: str
    default: Any
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False
    tab: str = "General"
    validate: Any = None
    warn: Any = None


@dataclass(frozen=True)
class DiagnosticStep:
    """One step of a plugin's connection test (``plugin_diagnose``).

    Attributes:
        name: what was tried, e.g. ``"corp: connect ldaps://dc1:636"``.
        ok: whether the step succeeded (the admin sees a tick or a cross).
        detail: what happened, for an admin: the server's answer, the certificate problem, the fix.
            Never a password or other secret.
    """

    name: str
    ok: bool
    detail: str = ""
