"""Bearer-token authentication for every route but the public ones (CONTRACT §5).

The principal goes to `scope["state"]["principal"]`; admin-only routes check the role where they are declared
(`routes.py`), so the list of admin routes lives next to the routes themselves.
"""

from __future__ import annotations

from gateway.auth import TokenVerifier
from gateway.errors import AuthenticationError
from gateway.types import Principal, Scope

PUBLIC_PATHS = frozenset({"/api/health", "/api/metrics/prometheus", "/metrics", "/openapi.json"})
PUBLIC_PREFIXES = ("/api/health/",)
DEV_PRINCIPAL = Principal(user="local", is_admin=True)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class Authenticator:
    def __init__(self, verifier: TokenVerifier | None) -> None:
        """`verifier=None` means AUTH_DISABLED: every caller is the local admin (development only)."""
        self.verifier = verifier

    async def principal(self, scope: Scope) -> Principal | None:
        """Who calls; None on public routes and CORS preflights. A bad or missing token raises a 401."""
        if scope["method"] == "OPTIONS" or is_public(scope["path"]):
            return None
        if self.verifier is None:
            return DEV_PRINCIPAL
        return await self.verifier.verify_async(bearer_token(scope))


def bearer_token(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("The Authorization header must be `Bearer <token>`.")
            return token.strip()
    raise AuthenticationError("Missing bearer token: send `Authorization: Bearer <JWT>`.")
