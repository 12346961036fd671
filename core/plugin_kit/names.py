"""Plugin names: what ``plugdesk plugin new NAME`` accepts."""

from __future__ import annotations

import keyword
import re

#: The areas a scaffold can target (each gets its hooks and its contract suite).
AREAS = ("auth", "captcha", "storage", "moderation", "retention", "other", "redirect", "mail_sources")

#: Plugins shipped with plugdesk (also refused when the entry points cannot be read).
IN_TREE = ("auth_local", "auth_ldap", "captcha_builtin", "captcha_recaptcha", "storage_fs", "storage_s3",
           "moderation_newusers", "retention_departments", "notify_email", "auth_oidc",
           "mail_imap")

#: Names that would shadow plugdesk's own packages, pytest's or Python's, or read as a keyword in config.
RESERVED = frozenset({"core", "plugins", "plugin", "plugdesk", "test", "tests", "testing", "conftest", "setup",
                      "main", "all", "none", "default", "local", "builtin", "site", "pip", "pytest", "pluggy",
                      "flask"})

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_LENGTH = 40


class InvalidPluginName(ValueError):
    """NAME cannot be used; the message says why and what is accepted."""


def installed_plugins() -> dict[str, str]:
    """Installed plugin names -> the distribution that provides them."""
    from core.plugins import available_plugins

    return {name: (ep.dist.name if ep.dist else "unknown") for name, ep in available_plugins().items()}


def check_name(name: str) -> str:
    """Return ``name`` if a new plugin may take it; raise :class:`InvalidPluginName` with a one-line reason.

    Accepted: lower-case letters, digits and underscores, starting with a letter, 2 to 40 characters, no
    double or trailing underscore; not a Python keyword, not reserved, not an in-tree or installed plugin.
    """
    rule = ("use lower-case letters, digits and single underscores, starting with a letter "
            f"(2-{MAX_LENGTH} characters), e.g. link_limit")
    if not isinstance(name, str) or not _SLUG.match(name):
        hint = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
        raise InvalidPluginName(f"invalid plugin name {name!r}: {rule}"
                         + (f" (try {hint!r})" if hint and _SLUG.match(hint) and hint != name else ""))
    if not 2 <= len(name) <= MAX_LENGTH or "__" in name or name.endswith("_"):
        raise InvalidPluginName(f"invalid plugin name {name!r}: {rule}")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED:
        raise InvalidPluginName(f"plugin name {name!r} is reserved; choose a more specific name, e.g. acme_{name}")
    installed = installed_plugins()
    if name in IN_TREE or installed.get(name) == "plugdesk":
        raise InvalidPluginName(f"{name!r} is a plugin shipped with plugdesk; choose another name, e.g. acme_{name}")
    if name in installed:
        raise InvalidPluginName(f"a plugin named {name!r} is already installed (distribution {installed[name]}); "
                         "choose another name")
    return name
