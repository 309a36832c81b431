"""Every admin route refuses non-admins (CONTRACT §5). The table is read from the app itself: a new route marked
`admin_only` is covered without editing this file, and the contract's admin routes must all be marked."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests.conftest import auth

pytestmark = pytest.mark.anyio

CONTRACT_ADMIN_ROUTES = {
    ("DELETE", "/api/llm/cache"),
    ("DELETE", "/api/llm/cache/{pattern}"),
    ("POST", "/api/metrics/reset"),
    ("GET", "/api/llm/costs/users"),
}


def admin_routes(app: Starlette) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and getattr(route.endpoint, "admin_only", False):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    return re.sub(r"{[^}]+}", "gpt-4o*", path)


async def test_contract_admin_routes_are_marked(app: Starlette) -> None:
    served = {(m, r.path) for r in app.routes if isinstance(r, Route) for m in (r.methods or ())}
    marked = set(admin_routes(app))
    assert {route for route in CONTRACT_ADMIN_ROUTES if route in served} <= marked


async def test_admin_routes_refuse_non_admins(app: Starlette, client: httpx.AsyncClient) -> None:
    routes = admin_routes(app)
    assert routes, "no admin route is served"
    for method, path in routes:
        response = await client.request(method, concrete(path), headers=auth("mallory"))
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["type"] == "permission_error"
        allowed = await client.request(method, concrete(path), headers=auth("root", admin=True))
        assert allowed.status_code != 403, (method, path)
