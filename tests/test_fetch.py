"""The SSRF guard of gateway/fetch.py, against a real loopback server where a connection is needed."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.fetch import FetchError, FetchPolicy, GuardedFetcher, refusal
from tests.servers import serve_in_thread

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)


async def image(request: Request) -> Response:
    return Response(PNG, media_type="image/png", headers={"x-seen-host": request.headers.get("host", "")})


async def big(request: Request) -> Response:
    return Response(b"\x00" * 4096, media_type="image/png")


async def big_chunked(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"\x00" * 512

    return StreamingResponse(body(), media_type="image/png")


async def html(request: Request) -> Response:
    return Response(b"<html></html>", media_type="text/html")


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(PNG, media_type="image/png")


APP = Starlette(
    routes=[
        Route("/img.png", image),
        Route("/big", big),
        Route("/big-chunked", big_chunked),
        Route("/page", html),
        Route("/slow", slow),
        Route("/redirect-metadata", lambda r: RedirectResponse("http://169.254.169.254/latest/meta-data/", 302)),
        Route("/redirect-private", lambda r: RedirectResponse("http://10.0.0.5/x.png", 302)),
        Route("/redirect-ok", lambda r: RedirectResponse("/img.png", 302)),
        Route("/redirect-loop", lambda r: RedirectResponse("/redirect-loop", 302)),
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_in_thread(APP) as url:
        yield url


def fetcher(**policy: object) -> GuardedFetcher:
    return GuardedFetcher(FetchPolicy(**policy))  # type: ignore[arg-type]  # test-only keyword forwarding


async def fetch(url: str, guard: GuardedFetcher) -> bytes:
    try:
        return (await guard.get(url)).body
    finally:
        await guard.aclose()


@pytest.mark.anyio
async def test_fetch_refuses_loopback_by_default(server: str) -> None:
    with pytest.raises(FetchError, match="loopback"):
        await fetch(server + "/img.png", fetcher())


@pytest.mark.anyio
async def test_fetch_allows_loopback_when_allow_listed(server: str) -> None:
    guard = fetcher(allow_private=True)
    try:
        fetched = await guard.get(server + "/img.png")
    finally:
        await guard.aclose()
    assert (fetched.body, fetched.content_type) == (PNG, "image/png")


@pytest.mark.anyio
async def test_fetch_refuses_cloud_metadata_even_when_private_is_allowed() -> None:
    with pytest.raises(FetchError, match="metadata"):
        await fetch("http://169.254.169.254/latest/meta-data/", fetcher(allow_private=True))


@pytest.mark.anyio
async def test_fetch_refuses_private_network_address() -> None:
    with pytest.raises(FetchError, match="private"):
        await fetch("http://10.1.2.3/cat.png", fetcher())


@pytest.mark.anyio
@pytest.mark.parametrize("addresses", [["10.0.0.7"], ["93.184.216.34", "127.0.0.1"], ["::ffff:192.168.0.1"]])
async def test_fetch_refuses_a_name_if_any_address_is_refused(addresses: list[str]) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return addresses

    guard = GuardedFetcher(FetchPolicy(), resolver=resolver)
    with pytest.raises(FetchError, match="not allowed"):
        await fetch("https://images.example.com/a.png", guard)


@pytest.mark.anyio
async def test_fetch_connects_to_the_checked_address_once(server: str) -> None:
    """The name is resolved once, by our resolver; the connection goes to that IP with the original Host."""
    port = int(server.rsplit(":", 1)[1])
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    guard = GuardedFetcher(FetchPolicy(allowed_networks=LOOPBACK_ONLY), resolver=resolver)
    try:
        fetched = await guard.get(f"http://images.invalid:{port}/img.png")
    finally:
        await guard.aclose()
    assert fetched.body == PNG
    assert calls == ["images.invalid"]


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x", "not a url"])
async def test_fetch_refuses_other_schemes(url: str) -> None:
    with pytest.raises(FetchError):
        await fetch(url, fetcher())


@pytest.mark.anyio
async def test_fetch_refuses_a_redirect_into_a_private_address(server: str) -> None:
    with pytest.raises(FetchError, match="private"):
        await fetch(server + "/redirect-private", fetcher(allowed_networks=LOOPBACK_ONLY))


@pytest.mark.anyio
async def test_fetch_refuses_a_redirect_into_metadata(server: str) -> None:
    with pytest.raises(FetchError, match="metadata"):
        await fetch(server + "/redirect-metadata", fetcher(allow_private=True))


@pytest.mark.anyio
async def test_fetch_follows_a_checked_redirect(server: str) -> None:
    assert await fetch(server + "/redirect-ok", fetcher(allowed_networks=LOOPBACK_ONLY)) == PNG


@pytest.mark.anyio
async def test_fetch_stops_after_three_redirects(server: str) -> None:
    with pytest.raises(FetchError, match="redirects"):
        await fetch(server + "/redirect-loop", fetcher(allow_private=True))


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_fetch_refuses_an_oversized_body(server: str, path: str) -> None:
    with pytest.raises(FetchError, match="larger than 1024 bytes"):
        await fetch(server + path, fetcher(allow_private=True, max_bytes=1024))


@pytest.mark.anyio
async def test_fetch_refuses_a_wrong_content_type(server: str) -> None:
    with pytest.raises(FetchError, match="text/html"):
        await fetch(server + "/page", fetcher(allow_private=True))


@pytest.mark.anyio
async def test_fetch_has_a_total_deadline(server: str) -> None:
    with pytest.raises(FetchError, match="longer than"):
        await fetch(server + "/slow", fetcher(allow_private=True, timeout_s=0.3))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "0.0.0.0",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
    ],
)
def test_refusal_refuses_non_public_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), FetchPolicy()) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_refusal_allows_public_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), FetchPolicy()) is None


def test_refusal_allow_private_never_allows_metadata() -> None:
    policy = FetchPolicy(allow_private=True)
    assert refusal(ipaddress.ip_address("10.0.0.1"), policy) is None
    assert refusal(ipaddress.ip_address("169.254.169.254"), policy) == "a cloud metadata address"
