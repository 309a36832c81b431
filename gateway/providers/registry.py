"""The one table of providers: name -> a factory that builds it from settings and its shared httpx client.

Adding a vendor is one entry here plus its `providers/<vendor>.py` and `translators/<vendor>/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Provider
from gateway.providers.google import GoogleProvider
from gateway.providers.mock import MockProvider
from gateway.providers.openai import OpenAIProvider
from gateway.settings import Settings
from gateway.transport import make_client, make_transport

Factory = Callable[[Settings, httpx.AsyncClient], Provider]

HTTP_PROVIDERS: dict[str, Factory] = {
    "openai": lambda s, client: OpenAIProvider(
        api_key=s.openai_api_key or "", base_url=s.openai_base_url, client=client, timeout_s=s.upstream_timeout_s
    ),
    "anthropic": AnthropicProvider.from_settings,
    "google": GoogleProvider.from_settings,
}


def build_providers(
    settings: Settings, *, upstream_transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, Provider]:
    """The configured providers, each with its own pooled client (one per provider, created here, closed by
    `Provider.aclose`). `upstream_transport` replaces the real transport in tests."""
    providers: dict[str, Provider] = {}
    for name, factory in HTTP_PROVIDERS.items():
        if not settings.provider_configured(name):
            continue
        transport = upstream_transport or make_transport(
            settings.upstream_transport, max_connections=settings.upstream_max_connections
        )
        client = make_client(
            transport, timeout_s=settings.upstream_timeout_s, connect_timeout_s=settings.upstream_connect_timeout_s
        )
        providers[name] = factory(settings, client)
    if settings.mock_provider:
        providers["mock"] = MockProvider(stream_delay_ms=settings.mock_stream_delay_ms)
    return providers


def configured_names(providers: Mapping[str, Provider]) -> list[str]:
    return sorted(providers)
