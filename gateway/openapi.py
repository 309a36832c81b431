"""`GET /openapi.json`: an OpenAPI 3.1 document of the gateway, built from the app's own routes and from the
same pydantic models that validate request bodies, so clients and fuzzers see exactly what is enforced.

Every route the app serves appears (path parameters included); LLM routes carry their request schema. A route
added later is documented automatically; give it a body schema by adding it to `REQUEST_MODELS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import __version__
from gateway.middleware.auth import is_public
from translators.schema import ChatRequest, CompletionRequest, EmbeddingRequest

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/chat/completions": ChatRequest,
    "/api/llm/chat": ChatRequest,
    "/v1/completions": CompletionRequest,
    "/api/llm/completions": CompletionRequest,
    "/v1/embeddings": EmbeddingRequest,
    "/api/llm/embeddings": EmbeddingRequest,
}
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
ERROR_STATUSES = ("400", "401", "403", "404", "405", "408", "413", "429", "431", "500", "502", "503", "504")


def _error_responses() -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {status: {"description": "An OpenAI-shaped error", "content": content} for status in ERROR_STATUSES}


def build_openapi(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    models = sorted(set(REQUEST_MODELS.values()), key=lambda m: m.__name__)
    _, schema = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(schema.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or route.path == "/openapi.json":
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PARAM.findall(route.path)
        ]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": f"{method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}",
                "responses": {
                    "200": {"description": "Success (JSON, or SSE when `stream` is true)"},
                    **_error_responses(),
                },
            }
            if parameters:
                operation["parameters"] = parameters
            model = REQUEST_MODELS.get(route.path)
            if model is not None and method == "POST":
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                }
            if is_public(route.path):
                operation["security"] = []
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llm-gateway",
            "version": __version__,
            "description": "OpenAI-compatible gateway to OpenAI, Anthropic and Gemini.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }


def openapi_route() -> Route:
    """The document is built once, on first request, from the routes the app really has."""
    cached: list[bytes] = []

    async def endpoint(request: Request) -> Response:
        if not cached:
            cached.append(orjson.dumps(build_openapi(request.app.routes)))
        return Response(cached[0], media_type="application/json")

    return Route("/openapi.json", endpoint, methods=["GET"])
