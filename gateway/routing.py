"""Dispatch of fixed-path routes by one dict lookup, in front of Starlette's router.

Starlette's `Router` walks its routes and runs each one's path regex until one matches, then builds a child scope
and calls `Route.handle`, which checks the method again: four frames, a regex and two dicts per request. Nearly
every request the gateway serves is a POST to a path without parameters (`/v1/chat/completions`), so the answer
for each (path, method) that such a route serves is worked out once, by asking the router's own routes in order,
and looked up per request. Everything else (path parameters, a wrong method's 405, unknown paths' 404, a
`root_path`, lifespan) goes to the router unchanged.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route, Router

from gateway.types import Receive, Scope, Send


class FixedPaths:
    """The innermost ASGI app: fixed-path routes by lookup, the rest through `router`."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.table = fixed_path_table(router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.table.get((scope["path"], scope["method"]))
            if route is not None:
                # what Router.app and Route.matches put in the scope for this route
                if "router" not in scope:
                    scope["router"] = self.router
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.app(scope, receive, send)
                return
        await self.router(scope, receive, send)


def fixed_path_table(routes: list[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) -> the route Starlette would pick, for every fixed-path route and method it serves: the
    first route in order that fully matches that request (an earlier route with a parameter could)."""
    table: dict[tuple[str, str], Route] = {}
    for route in routes:
        if not isinstance(route, Route) or route.param_convertors or not route.methods:
            continue
        for method in route.methods:
            probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
            chosen = next((r for r in routes if r.matches(probe)[0] is Match.FULL), None)
            if chosen is route:
                table.setdefault((route.path, method), route)
    return table
