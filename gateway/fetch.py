"""Fetching a URL a caller gave us without letting the caller reach our own network (SSRF guard).

Used for Gemini image URLs, and written for any part that must fetch a caller-chosen URL (webhooks, JWKS):

- http and https only; the host is resolved ONCE and every address is checked: loopback, private, link-local,
  multicast, reserved, unspecified, shared (CGNAT) and addresses embedded in IPv6 (mapped, NAT64, 6to4, Teredo)
  are refused unless `FETCH_ALLOW_PRIVATE` (or a `FETCH_ALLOWED_NETWORKS` CIDR) permits them; cloud metadata
  addresses are refused always;
- the connection goes to the checked IP itself (TLS still verifies the certificate for the host name via SNI),
  so a second DNS answer cannot swap in another address (DNS rebinding); no connection is ever reused;
- at most `max_redirects` redirects, each re-checked like the first URL; no proxies from the environment;
- the body is capped while it is read (a `content-length` over the cap is refused before reading), the whole
  fetch (DNS, redirects, body) has one deadline, and the content type must match what the caller accepts.

Every refusal or failure raises `FetchError` with a message safe to show the caller.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from gateway.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, AWS ECS task metadata, Alibaba, Oracle).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "llm-gateway-fetch/1"


class FetchError(Exception):
    """The URL was refused or could not be fetched; `str(exc)` is safe to show the caller."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 15.0
    allow_private: bool = False  # loopback, private and link-local ranges (never cloud metadata)
    allowed_networks: tuple[IPNetwork, ...] = ()
    max_redirects: int = 3

    @classmethod
    def for_images(cls, settings: Settings) -> FetchPolicy:
        return cls(
            max_bytes=settings.image_fetch_max_bytes,
            timeout_s=settings.image_fetch_timeout_s,
            allow_private=settings.fetch_allow_private,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in settings.fetch_allowed_networks),
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # the final URL, after redirects
    content_type: str  # media type without parameters, lower case
    body: bytes


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> Iterable[ipaddress.IPv4Address]:
    if ip.ipv4_mapped is not None:
        yield ip.ipv4_mapped
    if ip in _NAT64:
        yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        yield ip.sixtofour
    if ip.teredo is not None:
        yield ip.teredo[1]


def refusal(ip: IPAddress, policy: FetchPolicy) -> str | None:
    """Why `ip` may not be fetched from, or None if it may."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(ip in network for network in policy.allowed_networks):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            reason = refusal(inner, policy)
            if reason is not None:
                return reason
    if ip.is_global and not ip.is_multicast:
        return None
    if policy.allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local) and not ip.is_unspecified:
        return None
    for test, label in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
    ):
        if test:
            return label
    return "a non-public address"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedFetcher:
    """Fetches caller-chosen URLs under a `FetchPolicy`. One per owner; `aclose()` releases its client."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolver
        # httpcore's own transport: it honours the `sni_hostname` extension; no keep-alive, so a connection made
        # (and certificate-checked) for one host name is never reused for another name on the same IP
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=0)
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(policy.timeout_s),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, accept: tuple[str, ...] = ("image/",)) -> Fetched:
        return await self.request("GET", url, accept=accept)

    async def request(
        self,
        method: str,
        url: str,
        *,
        accept: tuple[str, ...] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Fetched:
        """One guarded request; `accept` lists allowed media-type prefixes (None: any)."""
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(method, url, accept, headers or {}, content)
        except TimeoutError:
            raise FetchError(f"the fetch took longer than {self.policy.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the fetch failed ({type(exc).__name__})") from None

    async def _follow(
        self, method: str, url: str, accept: tuple[str, ...] | None, headers: Mapping[str, str], content: bytes | None
    ) -> Fetched:
        current = self._parse(url)
        for hop in range(self.policy.max_redirects + 1):
            request = await self._pinned_request(method, current, headers, content)
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    if hop == self.policy.max_redirects:
                        raise FetchError(f"more than {self.policy.max_redirects} redirects")
                    current = self._parse(str(current.join(response.headers["location"])))
                    if response.status_code == 303 or (response.status_code in (301, 302) and method != "GET"):
                        method, content = "GET", None
                    continue
                return await self._read(current, response, accept)
            finally:
                await response.aclose()
        raise FetchError("too many redirects")  # not reached: the loop returns or raises

    def _parse(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise FetchError("the URL is not valid") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchError("only http and https URLs can be fetched")
        return parsed

    async def _pinned_request(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], content: bytes | None
    ) -> httpx.Request:
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        ip = await self._checked_address(host, port)
        pinned = url.copy_with(host=str(ip))
        host_header = f"[{host}]" if ":" in host else host
        if url.port is not None:
            host_header = f"{host_header}:{url.port}"
        all_headers = {"user-agent": USER_AGENT, **headers, "host": host_header}
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        return self._client.build_request(method, pinned, headers=all_headers, content=content, extensions=extensions)

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                found = await self._resolve(host, port)
            except OSError:
                raise FetchError("the host name could not be resolved") from None
            addresses = []
            for raw in found:
                try:
                    addresses.append(ipaddress.ip_address(raw.split("%", 1)[0]))
                except ValueError:
                    raise FetchError("the host name resolved to an invalid address") from None
        if not addresses:
            raise FetchError("the host name could not be resolved")
        for ip in addresses:  # every answer is checked: one bad address refuses the host
            reason = refusal(ip, self.policy)
            if reason is not None:
                raise FetchError(f"the URL points to {reason}, which is not allowed")
        return addresses[0]

    async def _read(self, url: httpx.URL, response: httpx.Response, accept: tuple[str, ...] | None) -> Fetched:
        if not 200 <= response.status_code < 300:
            raise FetchError(f"the server answered HTTP {response.status_code}")
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if accept is not None and not media_type.startswith(accept):
            raise FetchError(f"the content type {media_type or 'none'!r} is not accepted (want {', '.join(accept)})")
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"the body is larger than {limit} bytes")
        parts: list[bytes] = []
        size = 0
        async for part in response.aiter_bytes():
            size += len(part)
            if size > limit:
                raise FetchError(f"the body is larger than {limit} bytes")
            parts.append(part)
        return Fetched(url=str(url), content_type=media_type, body=b"".join(parts))
