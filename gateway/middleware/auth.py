"""Bearer-token authentication for every route but the public ones (CONTRACT §5).

It sets `scope["state"]["principal"]`; admin-only routes check the role where they are declared (`routes.py`),
so the list of admin routes lives next to the routes themselves.
"""

from __future__ import annotations

from gateway.auth import TokenVerifier
from gateway.errors import AuthenticationError
from gateway.middleware.errors import send_error
from gateway.types import ASGIApp, Principal, Receive, Scope, Send

PUBLIC_PATHS = frozenset({"/api/health", "/api/metrics/prometheus", "/metrics", "/openapi.json"})
PUBLIC_PREFIXES = ("/api/health/",)
DEV_PRINCIPAL = Principal(user="local", is_admin=True)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, verifier: TokenVerifier | None) -> None:
        """`verifier=None` means AUTH_DISABLED: every caller is the local admin (development only)."""
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if self.verifier is None:
            scope.setdefault("state", {})["principal"] = DEV_PRINCIPAL
            await self.app(scope, receive, send)
            return
        try:
            scope.setdefault("state", {})["principal"] = await self.verifier.verify_async(_bearer_token(scope))
        except AuthenticationError as exc:
            await send_error(send, exc)
            return
        await self.app(scope, receive, send)


def _bearer_token(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("The Authorization header must be `Bearer <token>`.")
            return token.strip()
    raise AuthenticationError("Missing bearer token: send `Authorization: Bearer <JWT>`.")
