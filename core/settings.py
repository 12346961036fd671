"""Static configuration: ``plugdesk.toml`` + ``PLUGDESK_<SECTION>_<KEY>`` environment overrides.

Validated once at startup. An unknown section or key, a wrong type or a missing secret stops startup
with a :class:`ConfigError` naming the key, the file (and line where it can be found) and what is
accepted. Secrets may be given as ``{ "$env" = "NAME" }`` or ``{ "$file" = "path" }`` and are
redacted wherever settings are shown or logged.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from core.inbound.config import inbound_schema
from core.ops.config import ops_schema
from core.schema import value_adapter
from core.worker.config import worker_schema

REDACTED = "********"
DEFAULT_PLUGINS = ["auth_local", "captcha_builtin", "storage_fs", "moderation_newusers", "retention_departments",
                   "notify_email"]
#: What the test harness (``core.testing``) and the contract suites enable when a test names no plugins.
HARNESS_PLUGINS = ("auth_local",)
#: The embedded default blob store: a restore into a new data directory puts its files in DIR/files.
EMBEDDED_STORAGE_PLUGIN = "storage_fs"


class ConfigError(Exception):
    """A configuration problem; ``str()`` is a one-line message for the operator."""


@dataclass(frozen=True)
class Field:
    """One key of the static configuration."""

    type: str  # "str" | "int" | "bool" | "list"
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def accepted(self) -> str:
        """Describe the accepted values for error messages."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type == "int":
            bounds = [f">= {self.minimum}"] if self.minimum is not None else []
            bounds += [f"<= {self.maximum}"] if self.maximum is not None else []
            return "an integer" + (" " + " and ".join(bounds) if bounds else "")
        return {"str": "a string", "bool": "true or false", "list": "a list of strings"}[self.type]


SCHEMA: dict[str, dict[str, Field]] = {
    "server": {
        "base_url": Field("str", "http://127.0.0.1:8080", "Public URL; links in emails are built from it."),
        "trusted_proxies": Field("int", 0, "Reverse-proxy hops whose X-Forwarded-* headers are trusted.",
                                 minimum=0, maximum=10),
        "secret_key": Field("str", "", "Signs sessions and tokens. Use { \"$file\" = ... }.", secret=True),
        "host": Field("str", "127.0.0.1", "Address `plugdesk serve` binds to."),
        "port": Field("int", 8080, "Port `plugdesk serve` binds to.", minimum=1, maximum=65535),
        "workers": Field("int", 0, "gunicorn workers (0 = 2 x cores + 1, at most 8).", minimum=0, maximum=64),
        "data_dir": Field("str", ".", "Directory for the database, files and outbox (relative to this file)."),
        "max_request_mb": Field("int", 64, "Largest request body accepted, in MiB.", minimum=1,
                                maximum=1024 * 16),
    },
    "database": {
        "url": Field("str", "sqlite:///plugdesk.db", "SQLAlchemy URL (sqlite:/// or postgresql+psycopg://).",
                     secret=True),
    },
    "limits": {
        "storage": Field("str", "memory://", "Counter storage for lockouts and rate limits (memory://, local:// or redis://)."),
    },
    "plugins": {
        "enabled": Field("list", DEFAULT_PLUGINS, "Enabled plugins; the order is the auth chain order."),
    },
    "storage": {
        "backend": Field("str", "fs", "Blob store name (a storage plugin must provide it)."),
    },
    "captcha": {
        "provider": Field("str", "builtin", "Captcha provider name (a captcha plugin must provide it)."),
    },
    "mail": {
        "url": Field("str", "", "smtp://user:pass@host:587?starttls=1; empty writes .eml files to DATA_DIR/outbox.",
                     secret=True),
        "sender": Field("str", "plugdesk@localhost", "From address of emails."),
    },
    "logging": {
        "level": Field("str", "INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        "format": Field("str", "auto", "Log format of `serve`/`worker`: json (one object per line), text, or auto "
                        "(text on a terminal, json otherwise).", choices=("auto", "json", "text")),
        "access": Field("bool", True, "One log record per request (request id, user id, route, status, duration)."),
    },
    **ops_schema(Field),
    **worker_schema(Field),
    **inbound_schema(Field),
    "retention": {
        "interval_minutes": Field("int", 0, "Scheduled retention on the background worker (`plugdesk worker` or "
                                  "the one embedded in `serve`): one pass every N minutes (0 = off; use cron with "
                                  "`plugdesk retention run`).",
                                  minimum=0, maximum=10080),
    },
}


@dataclass
class Settings:
    """Validated static configuration. Use :meth:`get`; plugin tables via :meth:`plugin_table`."""

    values: dict[str, dict[str, Any]]
    plugin_tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None
    secret_paths: set[str] = field(default_factory=set)

    def get(self, section: str, key: str) -> Any:
        """Return a value, e.g. ``get("server", "base_url")``."""
        return self.values[section][key]

    @property
    def data_dir(self) -> Path:
        """The data directory, absolute."""
        return Path(self.values["server"]["data_dir"])

    def plugin_table(self, name: str) -> dict[str, Any]:
        """Return the ``[plugins.NAME]`` table (empty when absent), secrets resolved."""
        return self.plugin_tables.get(name, {})

    def redacted(self) -> dict[str, Any]:
        """Return all settings with every secret replaced by ``********`` (safe to show or log)."""
        out: dict[str, Any] = {}
        for section, keys in self.values.items():
            out[section] = {}
            for key, value in keys.items():
                path = f"{section}.{key}"
                if path == "database.url" or path == "mail.url":
                    out[section][key] = redact_url(value)
                elif path in self.secret_paths or SCHEMA[section][key].secret:
                    out[section][key] = REDACTED if value else ""
                else:
                    out[section][key] = value
        out["plugins"] = dict(out.get("plugins", {}))
        for name, table in self.plugin_tables.items():
            out["plugins"][name] = _redact_table(table, f"plugins.{name}", self.secret_paths)
        return out

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Settings(source={self.source!s}, values={self.redacted()!r})"


def redact_url(url: str) -> str:
    """Hide the password of a URL such as ``postgresql://u:secret@h/db``."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _redact_table(table: Mapping[str, Any], prefix: str, secret_paths: set[str]) -> Any:
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}"
        if path in secret_paths or _looks_secret(key):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = _redact_table(value, path, secret_paths)
        elif isinstance(value, list):
            out[key] = [_redact_table(v, f"{path}[{i}]", secret_paths) if isinstance(v, Mapping) else v
                        for i, v in enumerate(value)]
        else:
            out[key] = value
    return out


def _looks_secret(key: str) -> bool:
    return bool(re.search(r"(password|secret|token|private_key)", key, re.I))


def _find_line(text: str, section: str, key: str | None) -> int | None:
    """Best-effort line number of ``key`` in ``[section]`` (or of the section header)."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


class _Loader:
    def __init__(self, path: Path | None, text: str, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.path = path
        self.text = text
        self.secret_paths: set[str] = set()

    def where(self, section: str, key: str | None = None) -> str:
        if self.path is None:
            return "settings"
        line = _find_line(self.text, section, key)
        return f"{self.path}:{line}" if line else str(self.path)

    def resolve(self, value: Any, path: str, section: str, key: str | None) -> Any:
        """Resolve ``{"$env": ...}`` / ``{"$file": ...}`` recursively."""
        if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in ("$env", "$file"):
            kind, ref = next(iter(value.items()))
            self.secret_paths.add(path)
            if not isinstance(ref, str) or not ref:
                raise ConfigError(f"{path} ({self.where(section, key)}): {kind} needs a non-empty string")
            if kind == "$env":
                if ref not in self.environ:
                    raise ConfigError(f"{path} ({self.where(section, key)}): environment variable {ref} is not set")
                return self.environ[ref]
            secret_file = Path(ref)
            if not secret_file.is_absolute() and self.path is not None:
                secret_file = self.path.parent / secret_file
            try:
                return secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"{path} ({self.where(section, key)}): cannot read secret file {secret_file}: "
                    f"{exc.strerror or exc}") from None
        if isinstance(value, Mapping):
            return {k: self.resolve(v, f"{path}.{k}", section, key) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]", section, key) for i, v in enumerate(value)]
        return value

    def coerce(self, spec: Field, value: Any, path: str, where: str) -> Any:
        """Check ``value`` with the schema library (exact TOML types, choices, bounds)."""
        adapter = value_adapter(spec.type, spec.choices, spec.minimum, spec.maximum)
        try:
            return adapter.validate_python(value, strict=True)
        except ValidationError:
            raise ConfigError(f"{path} ({where}): got {value!r}; expected {spec.accepted()}") from None


def _env_value(spec: Field, raw: str, name: str) -> Any:
    if spec.type == "str":
        return raw
    if spec.type == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: got {raw!r}; expected {spec.accepted()}") from None
    if spec.type == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: got {raw!r}; expected true or false")
    if raw.strip().startswith("["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: not a JSON list ({exc.msg})") from None
    return [part.strip() for part in raw.split(",") if part.strip()]


def load_settings(path: str | os.PathLike[str] | None = None, *, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate settings.

    :param path: a ``plugdesk.toml``; ``None`` uses ``PLUGDESK_CONFIG`` or built-in defaults.
    :param overrides: a dict shaped like the TOML file, applied on top (used by tests and the harness).
    :param environ: environment to read ``PLUGDESK_*`` from (default ``os.environ``).
    :raises ConfigError: with a one-line explanation.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("PLUGDESK_CONFIG"):
        path = environ["PLUGDESK_CONFIG"]
    file_path = Path(path).resolve() if path is not None else None
    text = ""
    data: dict[str, Any] = {}
    if file_path is not None:
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file_path}: {exc.strerror or exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: invalid TOML: {exc}") from None
    for section, table in (overrides or {}).items():
        if isinstance(table, Mapping) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **table}
        else:
            data[section] = table
    loader = _Loader(file_path, text, environ)
    values: dict[str, dict[str, Any]] = {s: {k: f.default for k, f in keys.items()} for s, keys in SCHEMA.items()}
    values["plugins"]["enabled"] = list(DEFAULT_PLUGINS)
    plugin_tables: dict[str, dict[str, Any]] = {}

    for section, table in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}] ({loader.where(section)}); "
                              f"accepted sections: {', '.join(sorted(SCHEMA))}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{section}] ({loader.where(section)}) must be a table")
        for key, raw in table.items():
            path_name = f"{section}.{key}"
            if section == "plugins" and key != "enabled":
                if not isinstance(raw, Mapping):
                    raise ConfigError(f"{path_name} ({loader.where(section, key)}): unknown key; [plugins] accepts "
                                      "'enabled' and one [plugins.NAME] table per plugin")
                plugin_tables[key] = loader.resolve(raw, path_name, f"plugins.{key}", None)
                continue
            spec = SCHEMA[section].get(key)
            if spec is None:
                raise ConfigError(f"unknown key {path_name} ({loader.where(section, key)}); accepted keys in "
                                  f"[{section}]: {', '.join(sorted(SCHEMA[section]))}")
            value = loader.resolve(raw, path_name, section, key)
            values[section][key] = loader.coerce(spec, value, path_name, loader.where(section, key))

    sections = sorted(SCHEMA, key=len, reverse=True)
    for name, raw in environ.items():
        if not name.startswith("PLUGDESK_") or name == "PLUGDESK_CONFIG":
            continue
        rest = name[len("PLUGDESK_"):].lower()
        env_section = next((s for s in sections if rest.startswith(s + "_")), None)
        env_key = rest[len(env_section) + 1:] if env_section else None
        if env_section is None or env_key is None or env_key not in SCHEMA[env_section]:
            known = ", ".join(f"PLUGDESK_{s.upper()}_{k.upper()}" for s in SCHEMA for k in SCHEMA[s])
            raise ConfigError(f"unknown environment variable {name}; accepted: PLUGDESK_CONFIG, {known}")
        spec = SCHEMA[env_section][env_key]
        values[env_section][env_key] = loader.coerce(spec, _env_value(spec, raw, name), f"{env_section}.{env_key}",
                                                     name)

    _finish_paths(values, file_path)
    _check_semantics(values, loader)
    return Settings(values=values, plugin_tables=plugin_tables, source=file_path, secret_paths=loader.secret_paths)


def _finish_paths(values: dict[str, dict[str, Any]], file_path: Path | None) -> None:
    base = file_path.parent if file_path is not None else Path.cwd()
    data_dir = Path(values["server"]["data_dir"])
    if not data_dir.is_absolute():
        data_dir = (base / data_dir).resolve()
    values["server"]["data_dir"] = str(data_dir)
    url = values["database"]["url"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        values["database"]["url"] = f"sqlite:///{data_dir / url[len('sqlite:///'):]}"


def _check_semantics(values: dict[str, dict[str, Any]], loader: _Loader) -> None:
    base_url = values["server"]["base_url"]
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"server.base_url ({loader.where('server', 'base_url')}): got {base_url!r}; "
                          "expected an absolute http:// or https:// URL")
    db_url = values["database"]["url"]
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", db_url):
        raise ConfigError(f"database.url ({loader.where('database', 'url')}): got {redact_url(db_url)!r}; "
                          "expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    limits = values["limits"]["storage"]
    if not re.match(r"^(memory|local|redis|rediss)://", limits):
        raise ConfigError(f"limits.storage ({loader.where('limits', 'storage')}): got {limits!r}; "
                          "expected memory://, local:// (shared by this machine's workers) or redis://HOST:PORT/DB")
    enabled = values["plugins"]["enabled"]
    if len(set(enabled)) != len(enabled):
        dupes = sorted({n for n in enabled if enabled.count(n) > 1})
        raise ConfigError(f"plugins.enabled ({loader.where('plugins', 'enabled')}): duplicate names {dupes}")
