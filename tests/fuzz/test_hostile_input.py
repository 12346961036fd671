"""Hostile values against every documented operation (fast; issue 19 finding 6 must not come back).

Hypothesis sends, to each route of ``/api/v1/openapi.json``, bodies and query strings built from the values
that once gave 500s: integers at and beyond the 32/53/63/64-bit boundaries, lone surrogates, control and
non-ASCII digit characters, deeply nested JSON. Path ids get the same integers. No answer may be a 5xx.
The schemathesis run (``test_api_schemathesis.py``, slow) checks conformance with the schemas themselves.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SKIP = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/me/password")}  # would end the shared token
BOUNDARIES = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]
integers = st.one_of(st.sampled_from(BOUNDARIES), st.integers())
surrogates = st.characters(categories=["Cs"])
odd_text = st.one_of(
    st.sampled_from(["²", "٣", "１２", "\x00", "\x1b[2J", "\u202e", "\r\n", "9" * 40, "-0", "1e400", "NaN", ""]),
    st.text(st.characters(codec=None, categories=["Cc", "Cs", "Nd", "No", "Zs"]), max_size=12),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=4), surrogates, st.text(max_size=4)),
)
scalars = st.one_of(integers, odd_text, st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=6)
FAST = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def caller(fuzz_app: Any, admin_token: str) -> Any:
    """``call(method, url, data)`` with the admin's token; a department and a ticket exist."""
    client = fuzz_app.test_client()
    headers = {"Authorization": f"Bearer {admin_token}"}
    dept = client.post("/api/v1/departments", json={"name": "Fuzz"}, headers=headers).get_json()["id"]
    client.post("/api/v1/tickets", json={"subject": "s", "department_id": dept, "body": "b"}, headers=headers)

    def call(method: str, url: str, data: str | None = None) -> Any:
        return client.open(url, method=method, data=data, headers=headers,
                           content_type="application/json" if data is not None else None)

    return call


def _document(app: Any) -> dict[str, Any]:
    """The OpenAPI document, fetched once per app (building it is the slow part of an example)."""
    if "hostile_document" not in app.extensions:
        app.extensions["hostile_document"] = app.test_client().get("/api/v1/openapi.json").get_json()
    return app.extensions["hostile_document"]


def _components(app: Any) -> dict[str, Any]:
    return _document(app).get("components", {}).get("schemas", {})


def _operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    doc = _document(app)
    ops = [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()]
    return [o for o in ops if (o[0], o[1]) not in SKIP]


def _typed(prop: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the documented type (so requests get past the type checks), sometimes anything."""
    if "$ref" in prop:
        prop = components.get(prop["$ref"].rsplit("/", 1)[-1], {})
    options = prop.get("anyOf", [prop])
    kinds = {k for o in options for k in ([o["type"]] if isinstance(o.get("type"), str) else o.get("type", []))}
    typed = [{"integer": integers, "number": integers, "string": st.one_of(odd_text, st.text(max_size=8)),
              "boolean": st.booleans(), "null": st.none(),
              "array": st.lists(st.one_of(integers, odd_text), max_size=3)}[k]
             for k in sorted(kinds) if k in ("integer", "number", "string", "boolean", "null", "array")]
    if "enum" in prop:
        typed.append(st.sampled_from(prop["enum"]))
    return st.one_of(*typed, *typed, values) if typed else values


def _url(path: str, op: dict[str, Any], ids: list[int], query: dict[str, Any]) -> str:
    for i, name in enumerate(re.findall(r"{(\w+)}", path)):
        path = path.replace("{" + name + "}", str(abs(ids[i % len(ids)]) if ids else 1))
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    pairs = {n: (json.dumps(v) if not isinstance(v, str) else v) for n, v in query.items() if n in names}
    return path + ("?" + urlencode(pairs, errors="surrogatepass") if pairs else "")


@pytest.mark.slow  # 80 examples over every operation: ~6 s of CPU
@FAST
@given(data=st.data(), ids=st.lists(integers, min_size=1, max_size=2))
def test_no_operation_answers_5xx_to_hostile_values(fuzz_app: Any, caller: Any, data: st.DataObject,
                                                     ids: list[int]) -> None:
    method, path, op = data.draw(st.sampled_from(_operations(fuzz_app)))
    params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    query = data.draw(st.fixed_dictionaries({}, optional={n: st.one_of(integers, odd_text) for n in params}))
    body = None
    schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}))
    if "requestBody" in op:
        props = schema.get("properties", {}) or {"x": {}}
        required = set(schema.get("required", []))
        components = _components(fuzz_app)
        strategies = {f: _typed(p, components) for f, p in props.items()}
        body = json.dumps(data.draw(st.fixed_dictionaries(
            {f: s for f, s in strategies.items() if f in required},
            optional={f: s for f, s in strategies.items() if f not in required})), ensure_ascii=True)
    r = caller(method, _url(path, op, ids, query), body)
    assert r.status_code < 500, (method, path, query, body, r.get_data(as_text=True)[:500])


@pytest.mark.parametrize("depth", [199, 200, 201, 1_000, 100_000])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_a_400_everywhere(fuzz_app: Any, caller: Any, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    raw = opener * depth + "1" + closer * depth
    for method, path, op in _operations(fuzz_app):
        if "requestBody" not in op or "{" in path:
            continue
        r = caller(method, path, raw)
        assert r.status_code in (400, 401, 403, 422, 429), (method, path, depth, r.status_code)
