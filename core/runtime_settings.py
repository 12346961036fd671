"""Runtime settings: stored in the database, validated, audited, effective on every node at once.

Each process keeps the values for at most ``CACHE_SECONDS`` (one small query refreshes them), so a change
made on one node is in force on every node within a second, without a restart; the node that made the change
sees it at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from flask import g, has_request_context
from flask.globals import _cv_app, _cv_request
from pydantic import ValidationError
from sqlalchemy import select

from core.db import Database
from core.models import AuditEntry, Setting, utcnow
from core.schema import describe, value_adapter
from core.types import SettingSpec

T = TypeVar("T")

CACHE_SECONDS = 1.0


class SettingsValidationError(ValueError):
    """One or more settings were refused; ``errors`` maps each key to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _reason(spec: SettingSpec, exc: ValidationError, value: Any) -> str:
    """The admin's message for a refused value (the wording the UI, API and CLI have always shown); bounds are
    worded by the schema library (``must be at least 1``)."""
    error = exc.errors()[0]
    kind = error["type"]
    got = json.dumps(value, default=repr)
    if kind in ("greater_than_equal", "less_than_equal"):
        return describe(error)
    if kind == "literal_error":
        return f"expected one of {', '.join(spec.choices)}"
    return {"bool": f"expected true or false, got {got}", "int": f"expected a whole number, got {got}",
            "list": "expected a list of strings"}.get(spec.type, f"expected a string, got {got}")


def coerce_value(spec: SettingSpec, value: Any, *, lax: bool = False) -> Any:
    """Check ``value`` against ``spec`` and return it normalised; raise ``ValueError`` with the reason.

    Values are exact JSON types (``"10"`` is not a number); ``lax`` converts text as a web form sends it
    (``"10"``, ``"on"``). A string for a ``list`` setting is split into lines.
    """
    if spec.type == "list" and isinstance(value, str):
        value = value.splitlines()
    adapter = value_adapter(spec.type, tuple(spec.choices), spec.minimum, spec.maximum)
    try:
        value = adapter.validate_python(value, strict=not lax)
    except ValidationError as exc:
        raise ValueError(_reason(spec, exc, value)) from None
    if spec.validate is not None:
        value = spec.validate(value)
    return value


def form_value(spec: SettingSpec, raw: str | None) -> Any:
    """What a management form field means before :func:`coerce_value` (``lax``) checks it: an unticked
    checkbox is absent (``False``), an empty field is ``""``."""
    if spec.type == "bool":
        return raw is not None and raw != ""
    return raw or ""


def parse_cli_value(text: str) -> Any:
    """CLI values are JSON (``true``, ``10``, ``["a"]``) or else a bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class RuntimeSettings:
    """The registry of setting specs plus the database-backed values."""

    def __init__(self, db: Database, specs: Iterable[SettingSpec],
                 checks: Iterable[Callable[[dict[str, Any]], dict[str, str]]] = ()) -> None:
        self.db = db
        self.specs: dict[str, SettingSpec] = {}
        for spec in specs:
            if spec.key in self.specs:
                raise ValueError(f"setting {spec.key} declared twice")
            self.specs[spec.key] = spec
        self.checks = list(checks)
        self.on_change: list[Callable[[str, Any, Any, str], None]] = []
        self._cache: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._derived: dict[str, tuple[dict[str, Any], Any]] = {}

    def defaults(self) -> dict[str, Any]:
        """Every key with its default value."""
        return {k: s.default for k, s in self.specs.items()}

    def _load(self) -> dict[str, Any]:
        values = self.defaults()
        with self.db.session() as session:
            for row in session.execute(select(Setting.key, Setting.value)):
                if row.key in values:
                    values[row.key] = row.value
        return values

    def all(self) -> dict[str, Any]:
        """Current values: fixed for the duration of one request, at most ``CACHE_SECONDS`` old."""
        if _cv_request.get(None) is not None:  # has_request_context(), without its proxies
            app_ctx = _cv_app.get(None)
            if app_ctx is not None:
                found = app_ctx.g.__dict__
                cached = found.get("_plugdesk_settings")
                if cached is None:
                    cached = found["_plugdesk_settings"] = self._fresh()
                return cached
        return self._fresh()

    def _fresh(self) -> dict[str, Any]:
        now = time.monotonic()
        cache = self._cache
        if cache is not None and now - cache[0] < CACHE_SECONDS:
            return cache[1]
        with self._lock:
            values = self._load()
            self._cache = (time.monotonic(), values)
        return values

    def derived(self, name: str, build: Callable[[dict[str, Any]], T]) -> T:
        """``build(values)`` for the current values, computed once per snapshot of the settings (``name`` keys
        it): what pages derive from settings on every request (headers, the brand) without recomputing it.
        Database errors propagate as from :meth:`all`."""
        values = self.all()
        found = self._derived.get(name)
        if found is None or found[0] is not values:
            found = self._derived[name] = (values, build(values))
        return cast(T, found[1])

    def invalidate(self) -> None:
        """Forget cached values (the next read queries the database)."""
        self._cache = None

    def get(self, key: str) -> Any:
        """One current value; ``KeyError`` for an unknown key."""
        if key not in self.specs:
            raise KeyError(key)
        return self.all()[key]

    def validate(self, changes: Mapping[str, Any], *, lax: bool = False) -> dict[str, Any]:
        """Validate a whole change set; raise :class:`SettingsValidationError` listing every problem.

        :param lax: the values are a web form's text (see :func:`coerce_value`).
        """
        errors: dict[str, str] = {}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            spec = self.specs.get(key)
            if spec is None:
                errors[key] = "unknown setting"
                continue
            try:
                clean[key] = coerce_value(spec, value, lax=lax)
            except ValueError as exc:
                errors[key] = str(exc)
        if not errors:
            merged = {**self._load(), **clean}
            for check in self.checks:
                errors.update(check(merged))
        if errors:
            raise SettingsValidationError(errors)
        return clean

    def warnings(self, values: Mapping[str, Any]) -> list[str]:
        """Warnings about accepted values (e.g. a blacklist entry that blocks everyone)."""
        out: list[str] = []
        for key, value in values.items():
            spec = self.specs.get(key)
            if spec is not None and spec.warn is not None:
                out.extend(f"{spec.label}: {w}" for w in spec.warn(value))
        return out

    def patch(self, changes: Mapping[str, Any], *, actor: str, ip: str = "",
              lax: bool = False) -> dict[str, tuple[Any, Any]]:
        """Apply all changes or none; audit each change; return ``{key: (old, new)}`` for real changes.

        :param lax: the values are a web form's text (see :func:`coerce_value`).
        """
        clean = self.validate(changes, lax=lax)
        changed: dict[str, tuple[Any, Any]] = {}
        with self.db.session() as session:
            current = self.defaults()
            rows = {r.key: r for r in session.scalars(select(Setting).where(Setting.key.in_(list(clean))))}
            for key, existing in rows.items():
                current[key] = existing.value
            for key, value in clean.items():
                old = current[key]
                if old == value:
                    continue
                row = rows.get(key)
                if row is None:
                    session.add(Setting(key=key, value=value, updated_by=actor, updated_at=utcnow()))
                else:
                    row.value, row.updated_by, row.updated_at = value, actor, utcnow()
                session.add(AuditEntry(actor=actor, ip=ip, action="setting.change", target=key,
                                       old=old, new=value))
                changed[key] = (old, value)
        self.invalidate()
        if has_request_context():
            g.pop("_plugdesk_settings", None)
        for key, (old, new) in changed.items():
            for callback in self.on_change:
                callback(key, old, new, actor)
        return changed
