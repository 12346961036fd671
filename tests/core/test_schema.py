"""The schema library (``core.schema``, ``core.api.paging``): plugdesk's wording for pydantic's refusals."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

import pytest
from pydantic import Field, ValidationError

from core import ConfigModel, PluginConfigError, explain, parse_plugin_config
from core.api.paging import MAX_LIMIT, id_in, page_query
from core.api.registry import ApiModel
from core.schema import MAX_ID, Id, field_errors, location


class Inner(ConfigModel):
    unknown_key_message: ClassVar[str] = "unknown colour key"
    fg: str = "black"


class Table(ConfigModel):
    size: Annotated[int, Field(ge=1, le=10)] = 3
    ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    mode: Annotated[str, Field(pattern="^(a|b)$"), explain("expected 'a' or 'b', got {got}")] = "a"
    api_token: str = ""
    items: list[Inner] = []
    colours: Inner = Inner()


@pytest.mark.parametrize(("raw", "key", "message"), [
    ({"size": 11}, "size", "expected a whole number from 1 to 10, got 11"),
    ({"size": "3"}, "size", "expected a whole number from 1 to 10, got '3'"),
    ({"size": True}, "size", "expected a whole number from 1 to 10, got True"),
    ({"ratio": 0}, "ratio", "expected a number above 0 and at most 1, got 0"),
    ({"mode": "c"}, "mode", "expected 'a' or 'b', got 'c'"),
    ({"api_token": 5}, "api_token", "expected a string"),  # never echo what looks like a secret
    ({"sise": 3, "size": "x"}, "sise", "unknown key; accepted keys: api_token, colours, items, mode, ratio, size"),
    ({"items": [{"fg": "red"}, {"bg": "x"}]}, "items[1].bg", "unknown colour key; accepted keys: fg"),
    ({"colours": []}, "colours", "expected a table (an object), got []"),
])
def test_plugin_config_errors_name_the_key_and_what_is_accepted(raw, key, message):
    with pytest.raises(PluginConfigError) as info:
        parse_plugin_config(Table, raw, prefix="")
    assert (info.value.key, info.value.message) == (key, message)


def test_plugin_config_defaults_prefix_and_immutability():
    table = parse_plugin_config(Table, None)
    assert (table.size, table.ratio, table.items) == (3, 0.5, [])
    assert parse_plugin_config(Table, {"ratio": 1}).ratio == 1.0  # an integer where a number is expected
    with pytest.raises(PluginConfigError) as info:
        parse_plugin_config(Table, {"size": 0}, prefix="providers[2].")
    assert info.value.key == "providers[2].size"
    with pytest.raises(ValidationError):
        table.size = 4  # type: ignore[misc]


class Body(ApiModel):
    name: str
    owner_id: Id | None = None


def test_api_field_errors_are_sentences_one_per_field():
    with pytest.raises(ValidationError) as info:
        Body.model_validate({"owner_id": MAX_ID + 1})
    assert field_errors(info.value, Body) == {"name": "This field is required.",
                                              "owner_id": f"Expected a whole number from 1 to {MAX_ID}."}
    assert location(("providers", 0, "urls", 1)) == "providers[0].urls[1]"


def test_page_models_bound_limit_and_offset():
    model = page_query(25, 100)
    assert model is page_query(25, 100)  # one model per (default, maximum)
    page = model.model_validate({}, strict=False)
    assert (page.limit, page.offset) == (25, 0)
    for bad in ({"limit": "-1"}, {"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"offset": str(2**64)}):
        with pytest.raises(ValidationError):
            model.model_validate(bad, strict=False)
    schema = model.model_json_schema()["properties"]["limit"]
    assert (schema["minimum"], schema["maximum"], schema["default"]) == (1, 100, 25)
    with pytest.raises(ValueError):
        page_query(10, MAX_LIMIT + 1)


@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42), (" #42 ", 42), ("0", None), ("²", None), ("٣", None), ("１２", None), ("-3", None),
    (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("9" * 30, None), ("", None), ("4 2", None)])
def test_ids_typed_into_search_boxes(text, expected):
    assert id_in(text) == expected


def test_openapi_request_schemas_are_the_validating_models(plugdesk_app):
    """Bodies and query strings are documented from the models that validate them, so the two cannot drift."""
    from core.api.openapi import model_schema, query_parameters

    doc = plugdesk_app.test_client().get("/api/v1/openapi.json").get_json()
    checked = 0
    for bp in plugdesk_app.blueprints.values():
        for route in bp.__dict__.get("openapi_routes", []):
            assert route.request is None, f"{route.method} {route.path}: hand-written request_schema; use body="
            op = doc["paths"][re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", (bp.url_prefix or "") + route.path)][
                route.method.lower()]
            if route.method in ("POST", "PATCH", "PUT") and route.body is None:
                assert "requestBody" not in op, (route.method, route.path)
            if route.body is not None:
                documented = op["requestBody"]["content"]["application/json"]["schema"]
                assert documented == model_schema(route.body, {}), (route.method, route.path)
                checked += 1
            if route.query is not None:
                names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
                assert names == {p["name"] for p in query_parameters(route.query, {})}, route.path
    assert checked >= 20
