"""gateway.routing.FixedPaths: the fixed-path lookup picks the route Starlette's router would, fills the scope as
the router does, and leaves everything else (parameters, 405, 404, root_path) to the router."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route, Router

from gateway.app import build_app
from gateway.routing import FixedPaths, fixed_path_table
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


class Recording:
    """A bare ASGI endpoint (as the LLM routes are) that notes what the scope says about routing."""

    def __init__(self, name: str, seen: list[tuple[str, dict[str, Any]]]) -> None:
        self.name, self.seen = name, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append((self.name, {k: scope[k] for k in ("route", "endpoint", "path_params", "router")}))


def test_the_table_agrees_with_starlettes_walk_for_every_gateway_route() -> None:
    routes = build_app(make_settings()).router.routes
    table = fixed_path_table(routes)
    assert ("/v1/chat/completions", "POST") in table
    assert ("/v1/chat/completions", "GET") not in table  # a 405 is the router's
    for (path, method), route in table.items():
        probe = {"type": "http", "path": path, "root_path": "", "method": method}
        assert next(r for r in routes if r.matches(probe)[0] is Match.FULL) is route


def test_a_parameter_route_listed_first_keeps_the_path() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    routes = [
        Route("/items/{name}", Recording("param", seen), methods=["GET"]),
        Route("/items/special", Recording("fixed", seen), methods=["GET", "POST"]),
    ]
    table = fixed_path_table(routes)  # type: ignore[arg-type]
    assert ("/items/special", "GET") not in table  # the parameter route wins in Starlette's order
    assert table[("/items/special", "POST")] is routes[1]


async def dispatch(app: Any, path: str, method: str, root_path: str = "") -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http", "path": path, "method": method, "root_path": root_path, "headers": []}
    await app(scope, None, None)
    return scope


async def test_the_scope_is_filled_as_the_router_fills_it() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    routes = [Route("/a/{x}", Recording("param", seen)), Route("/b", Recording("fixed", seen), methods=["POST"])]
    router = Router(routes)  # type: ignore[arg-type]
    await dispatch(router, "/b", "POST")
    await dispatch(FixedPaths(router), "/b", "POST")
    assert seen[0] == seen[1]
    assert seen[1][1]["route"] is routes[1] and seen[1][1]["path_params"] == {}
    await dispatch(FixedPaths(router), "/a/7", "GET")  # parameters: the router's walk
    assert seen[2][0] == "param" and seen[2][1]["path_params"] == {"x": "7"}
    await dispatch(FixedPaths(router), "/mounted/b", "POST", root_path="/mounted")
    assert seen[3][0] == "fixed"  # under a root_path the router strips it and decides


async def test_a_wrong_method_and_an_unknown_path_still_get_the_routers_answers() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    app = FixedPaths(Router([Route("/b", Recording("fixed", seen), methods=["POST"])]))  # type: ignore[list-item]
    with pytest.raises(HTTPException) as wrong:
        scope = {"type": "http", "path": "/b", "method": "GET", "root_path": "", "headers": [], "app": object()}
        await app(scope, None, None)  # type: ignore[arg-type]
    assert wrong.value.status_code == 405
    with pytest.raises(HTTPException) as unknown:
        scope = {"type": "http", "path": "/nope", "method": "POST", "root_path": "", "headers": [], "app": object()}
        await app(scope, None, None)  # type: ignore[arg-type]
    assert unknown.value.status_code == 404
    assert seen == []
