"""Build the OpenAPI 3.1 document from every blueprint's ``openapi_routes``."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

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


def build_openapi(app: Flask) -> dict[str, Any]:
    """The document for every documented route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    for bp in app.blueprints.values():
        prefix = bp.url_prefix or ""
        for route in bp.__dict__.get("openapi_routes", []):
            path, params = _path(prefix + route.path)
            op: dict[str, Any] = {"summary": route.summary, "operationId": f"{bp.name}_{route.method.lower()}_"
                                  + re.sub(r"\W+", "_", route.path).strip("_"), "tags": route.tags,
                                  "responses": {}}
            if params:
                op["parameters"] = params
            if route.auth is not None:
                op["security"] = [{"bearer": []}]
            if route.request is not None:
                op["requestBody"] = {"required": True, "content": {ct: {"schema": route.request}
                                                                   for ct in route.content_types}}
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
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
