"""The general rate limit (CONTRACT §2): RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS on every route,
per user (`sub`, authenticated first) or per client IP when there is no user. Health routes
and metrics are never limited. A refusal is a 429 `rate_limit_exceeded` with Retry-After; every limited response
carries the x-ratelimit-*-requests trio, unless the LLM limit (the more specific one) already set it
(`gateway/middleware/front.py` adds them to the response).

The client IP is the peer's address, unless the peer is one of TRUSTED_PROXIES: then X-Forwarded-For is read
from the right, skipping trusted proxies, and the first other address is the client (the leftmost entries are
whatever the client claimed, so they are never believed on their own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from gateway.errors import RateLimitError
from gateway.ratelimit.gcra import Check, Rate, Status
from gateway.ratelimit.headers import add_limit_headers, openai_duration, retry_headers
from gateway.ratelimit.limiter import Limiter
from gateway.types import Principal, Scope

EXEMPT_PATHS = frozenset({"/api/health", "/metrics", "/api/metrics/prometheus"})
EXEMPT_PREFIXES = ("/api/health/",)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_ip(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The caller's address, believing X-Forwarded-For only as far as it was written by trusted proxies."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
    if not forwarded:
        return peer
    hops = b",".join(forwarded).decode("latin-1").split(",")
    for hop in reversed(hops):
        hop = hop.strip()
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a trusted proxy passed on something that is not an address: do not guess
        if not any(address in network for network in trusted):
            return address.compressed
        peer = address.compressed
    return peer  # every hop was a trusted proxy


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class HTTPRateLimit:
    """The general limit. `check` returns the x-ratelimit-*-requests headers for the response, or raises the 429."""

    def __init__(self, *, limiter: Limiter, rate: Rate | None, trusted_proxies: Iterable[str] = ()) -> None:
        """`rate=None` (RATE_LIMIT_MAX_REQUESTS=0) turns the limit off."""
        self.limiter = limiter
        self.rate = rate
        self.trusted = parse_networks(trusted_proxies)
        self.window = openai_duration(rate.window_ms) if rate else ""

    def applies(self, path: str) -> bool:
        return self.rate is not None and path not in EXEMPT_PATHS and not path.startswith(EXEMPT_PREFIXES)

    async def check(self, scope: Scope, principal: Principal | None) -> Status:
        """Take one request; raise the 429 when the limit refuses. The status is for `headers`, which the front
        door calls only for a response that carries no LLM limit headers (those are more specific and win)."""
        rate = self.rate
        assert rate is not None
        if principal is not None:
            key = f"{{u:{principal.user}}}:http"
        else:
            key = f"{{ip:{client_ip(scope, self.trusted)}}}:http"
        verdict = await self.limiter.check((Check(key, rate),))
        if not verdict.allowed:
            headers: dict[str, str] = {}
            add_limit_headers(headers, verdict.statuses[0], "requests")
            wait = openai_duration(verdict.retry_after_ms)
            raise RateLimitError(
                f"Rate limit reached: limit {rate.limit} requests per {self.window}. Please try again in {wait}.",
                retry_after_s=verdict.retry_after_ms / 1000,
                headers={**headers, **retry_headers(verdict)},
            )
        return verdict.statuses[0]


def headers(status: Status) -> list[tuple[bytes, bytes]]:
    """The x-ratelimit-*-requests trio of a status, as response header bytes."""
    found: dict[str, str] = {}
    add_limit_headers(found, status, "requests")
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in found.items()]
