"""Build the OpenAPI 3.1 document from every blueprint's ``openapi_routes``.

Request bodies and query parameters come from the routes' pydantic models (``model_json_schema``), the same
models that validate the requests; shared definitions (enums, nested models) go to ``components.schemas``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel

from core import __version__

PROBLEM = {"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                            "status": {"type": "integer"}, "detail": {"type": "string"},
                                            "errors": {"type": "object"}},
           "required": ["type", "title", "status", "detail"]}


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer" if conv == "int" else "string"}})
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), params


def model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``model``; its ``$defs`` move to ``components`` (references point there)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return schema


def query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``in: query`` parameter per field of ``model``."""
    schema = model_schema(model, components)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:  # "absent" is how a query string says null
            prop = {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **options[0]}
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def build_openapi(app: Flask) -> dict[str, Any]:
    """The document for every documented route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for bp in app.blueprints.values():
        prefix = bp.url_prefix or ""
        for route in bp.__dict__.get("openapi_routes", []):
            path, params = _path(prefix + route.path)
            op: dict[str, Any] = {"summary": route.summary, "operationId": f"{bp.name}_{route.method.lower()}_"
                                  + re.sub(r"\W+", "_", route.path).strip("_"), "tags": route.tags,
                                  "responses": {}}
            if route.query is not None:
                params += query_parameters(route.query, components)
            if params:
                op["parameters"] = params
            if route.auth is not None:
                op["security"] = [{"bearer": []}]
            request = model_schema(route.body, components) if route.body is not None else route.request
            if request is not None:
                op["requestBody"] = {"required": not (route.body is not None and route.body.empty_ok),
                                     "content": {ct: {"schema": request} for ct in route.content_types}}
            for status, (description, schema) in sorted(route.responses.items()):
                response: dict[str, Any] = {"description": description}
                if status >= 400:
                    response["content"] = {"application/problem+json": {"schema": PROBLEM}}
                elif schema is not None:
                    response["content"] = {"application/json": {"schema": schema}}
                op["responses"][str(status)] = response
            paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "plugdesk API", "version": __version__},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(components.items()))},
    }
