"""The schema library: pydantic v2 models validate request bodies, plugin config tables and runtime settings.

Everything that checks input goes through pydantic, and this module turns pydantic's
:class:`~pydantic.ValidationError` into plugdesk's wording in one place:

* :func:`parse_plugin_config` validates a ``[plugins.NAME]`` table against a :class:`ConfigModel` and raises
  :class:`core.types.PluginConfigError` naming the key (``providers[0].user_filter``) and what is accepted.
* :func:`field_errors` gives the ``errors`` member of an API problem (one human message per field).
* :func:`explain` replaces pydantic's message for one field with the plugin's own words.
* :func:`value_adapter` is the type of one setting (``plugdesk.toml`` keys and runtime settings alike).

A plugin's configuration model::

    from typing import Annotated
    from pydantic import Field

    class Options(ConfigModel):
        max_links: Annotated[int, Field(ge=0, le=100)] = 3
        domains: list[str] = []

    @hookimpl
    def parse_config(raw, ctx):
        return parse_plugin_config(Options, raw)
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from core.types import PluginConfigError

#: The largest database id (ids are 32-bit integers on PostgreSQL); bigger numbers can never match a row.
MAX_ID = 2**31 - 1
#: A database id in a request: a whole number from 1 to :data:`MAX_ID`.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
M = TypeVar("M", bound=BaseModel)
_SECRET = re.compile(r"(password|secret|token|private_key|access_key)", re.I)


class ConfigModel(BaseModel):
    """Base of a plugin's configuration table: exact TOML types, unknown keys refused, immutable.

    TOML arrays arrive as lists and tables as dicts, so declare ``list[str]`` and ``dict[str, str]``
    (not tuples). Integers are accepted where a ``float`` is declared; ``true`` is never a number.
    ``unknown_key_message`` starts the message for a key the table does not know.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    unknown_key_message: ClassVar[str] = "unknown key"


def explain(message: str) -> WrapValidator:
    """Annotate a field so that any refusal of it reads ``message``.

    ``{got}`` in ``message`` is replaced by the ``repr`` of the refused value, e.g.
    ``Annotated[float, Field(gt=0, le=300), explain("expected seconds between 0 and 300, got {got}")]``.
    """

    def wrap(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("explained", message.replace("{got}", repr(value))) from None

    return WrapValidator(wrap)


def refuse(message: str) -> PydanticCustomError:
    """An error for a validator to raise with exactly ``message`` (no "Value error," prefix)."""
    return PydanticCustomError("refused", message)


@cache
def value_adapter(kind: str, choices: tuple[str, ...] = (), minimum: int | None = None,
                  maximum: int | None = None) -> TypeAdapter[Any]:
    """The pydantic type of one setting: ``kind`` is ``"bool"``, ``"int"`` (``minimum``..``maximum``),
    ``"list"`` (of strings) or ``"str"`` (one of ``choices`` when given). Validate with ``strict=True`` for
    exact TOML/JSON types, ``strict=False`` for text from a web form."""
    if kind == "bool":
        return TypeAdapter(bool)
    if kind == "int":
        return TypeAdapter(Annotated[int, Field(ge=minimum, le=maximum)])
    if kind == "list":
        return TypeAdapter(list[str])
    if choices:
        return TypeAdapter(cast(Any, Literal[choices]))
    return TypeAdapter(str)


def location(loc: tuple[int | str, ...]) -> str:
    """``("providers", 0, "user_filter")`` -> ``"providers[0].user_filter"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` (``None`` for a union of several types)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return None
            annotation = options[0]
        else:
            return annotation


def _walk(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[Any, FieldInfo | None]:
    """The annotation (and field) a model declares at ``loc``; ``(None, None)`` when it cannot tell."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) and typing.get_origin(current) in (list, tuple):
            current, info = typing.get_args(current)[0], None
        elif isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None)
            if info is None:
                return None, None
            current = info.annotation
        else:
            return None, None
    return current, info


def _unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """"unknown key; accepted keys: ..." for the (nested) model at ``loc``."""
    current = _unwrap(_walk(model, loc)[0])
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return "unknown key"
    accepted = sorted(info.alias or name for name, info in current.model_fields.items())
    return f"{getattr(current, 'unknown_key_message', 'unknown key')}; accepted keys: {', '.join(accepted)}"


def _annotated_metadata(annotation: Any) -> list[Any]:
    """Constraint objects inside ``Annotated[...]`` (also below ``Optional``), e.g. ``Id | None``."""
    out: list[Any] = []
    while annotation is not None:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extras = typing.get_args(annotation)
            for extra in extras:
                out.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else None
        else:
            break
    return out


def _range_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """``"a whole number from 4 to 10"`` for a bounded number field, else ``None``."""
    annotation, info = _walk(model, loc)
    if info is None:
        return None
    bounds: dict[str, Any] = {}
    for item in [*info.metadata, *_annotated_metadata(annotation)]:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    what = "a whole number" if _unwrap(annotation) is int else "a number"
    if "ge" in bounds and "le" in bounds:
        return f"{what} from {bounds['ge']} to {bounds['le']}"
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    parts = [f"{words[k]} {bounds[k]}" for k in ("ge", "gt", "le", "lt") if k in bounds]
    return f"{what} {' and '.join(parts)}" if parts else None


def describe(error: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """A lower-case message fragment for one pydantic error, e.g. ``"must be at most 300"``."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("explained", "refused"):
        return error["msg"]
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_key(model, error["loc"][:-1]) if model is not None else "unknown key"
    simple = {
        "int_type": "expected a whole number", "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number", "float_type": "expected a number",
        "float_parsing": "expected a number", "finite_number": "expected a finite number",
        "string_type": "expected a string", "string_unicode": "expected a string",
        "bool_type": "expected true or false", "bool_parsing": "expected true or false",
        "list_type": "expected a list", "dict_type": "expected a table (an object)",
        "model_type": "expected a table (an object)", "model_attributes_type": "expected a table (an object)",
        "none_required": "expected null",
    }
    numeric = ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing")
    if kind in numeric and model is not None and (accepted := _range_at(model, error["loc"])):
        return f"expected {accepted}"
    if kind in simple:
        return simple[kind]
    bounds = {"greater_than_equal": ("must be at least", "ge"), "greater_than": ("must be more than", "gt"),
              "less_than_equal": ("must be at most", "le"), "less_than": ("must be less than", "lt")}
    if kind in bounds:
        accepted = _range_at(model, error["loc"]) if model is not None else None
        if accepted:
            return f"expected {accepted}"
        words, key = bounds[kind]
        return f"{words} {ctx.get(key)}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items"
    if kind in ("literal_error", "enum"):
        return f"expected {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    msg = error["msg"]
    return msg[:1].lower() + msg[1:]


def _ordered(exc: ValidationError) -> list[ErrorDetails]:
    """Unknown keys first (a misspelt key also explains a "missing" one), then in field order."""
    errors = exc.errors(include_url=False)
    return sorted(errors, key=lambda e: e["type"] != "extra_forbidden")


def _with_value(error: ErrorDetails, message: str) -> str:
    """Append ``, got VALUE`` to type and range refusals (never for secret-looking keys)."""
    if error["type"] in ("explained", "refused", "value_error", "assertion_error", "missing", "extra_forbidden"):
        return message
    names = [p for p in error["loc"] if isinstance(p, str)]
    if names and _SECRET.search(names[-1]):
        return message
    got = repr(error.get("input"))
    return f"{message}, got {got if len(got) <= 80 else got[:77] + '...'}"


def config_error(exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = "") -> PluginConfigError:
    """The first problem of ``exc`` as a :class:`PluginConfigError` naming the key and what is accepted."""
    error = _ordered(exc)[0]
    key = location(error["loc"]) or "(table)"
    return PluginConfigError(prefix + key, _with_value(error, describe(error, model)))


def parse_plugin_config(model: type[M], raw: Mapping[str, Any] | None, *, prefix: str = "") -> M:
    """Validate a plugin's ``[plugins.NAME]`` table; raise :class:`PluginConfigError` for the first problem.

    :param prefix: put before the key in messages (e.g. ``"providers[0]."`` for one entry of an array).
    """
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise config_error(exc, model, prefix) from None


def sentence(fragment: str) -> str:
    """``"must be at most 5"`` -> ``"Must be at most 5."`` (API messages are sentences)."""
    text = fragment[:1].upper() + fragment[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def field_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> dict[str, str]:
    """One message per top-level field (the ``errors`` of a problem+json answer)."""
    out: dict[str, str] = {}
    for error in _ordered(exc):
        loc = error["loc"]
        name = str(loc[0]) if loc else "body"
        if name in out:
            continue
        message = "This field is required." if error["type"] == "missing" else sentence(describe(error, model))
        out[name] = message
    return out

