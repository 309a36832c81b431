"""The one table of providers: name -> a factory that builds it from settings and its `Upstream` (transport + timeouts).

Adding a vendor is one entry here plus its `providers/<vendor>.py` and `translators/<vendor>/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.balance import BalancedProvider
from gateway.providers.base import Provider
from gateway.providers.google import GoogleProvider
from gateway.providers.mock import MockProvider
from gateway.providers.openai import OpenAIProvider
from gateway.settings import Deployment, Settings
from gateway.transport import Upstream, make_transport

Factory = Callable[[Settings, Upstream], Provider]

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
    """The configured providers, each with its own connection pool (one per provider, created here, closed by
    `Provider.aclose`). `upstream_transport` replaces the real transport in tests."""
    providers: dict[str, Provider] = {}

    def build(name: str, factory: Factory, provider_settings: Settings) -> Provider:
        transport = upstream_transport or make_transport(
            settings.upstream_transport, max_connections=settings.upstream_max_connections
        )
        upstream = Upstream(
            transport,
            timeout_s=provider_settings.upstream_timeout_s,
            connect_timeout_s=provider_settings.upstream_connect_timeout_s,
            first_byte_timeout_s=provider_settings.upstream_first_byte_timeout_s,
        )
        return factory(provider_settings, upstream)

    for name, factory in HTTP_PROVIDERS.items():
        own = with_provider_timeouts(settings, name)
        deployments = settings.deployments.get(name)
        if deployments:  # several keys or base URLs: one provider each, balanced behind the one name
            members = [(build(name, factory, for_deployment(own, name, d)), d.weight) for d in deployments]
            providers[name] = BalancedProvider(name, members)
        elif settings.provider_configured(name):
            providers[name] = build(name, factory, own)
    if settings.mock_provider:
        providers["mock"] = MockProvider(stream_delay_ms=settings.mock_stream_delay_ms)
    return providers


TIMEOUT_KEYS = {
    "timeout_s": "upstream_timeout_s",
    "connect_timeout_s": "upstream_connect_timeout_s",
    "first_byte_timeout_s": "upstream_first_byte_timeout_s",
}


def with_provider_timeouts(settings: Settings, provider: str) -> Settings:
    """`[providers.<name>]` may set its own `timeout_s`, `connect_timeout_s` and `first_byte_timeout_s`."""
    table = settings.config.providers.get(provider, {})
    fields: dict[str, Any] = {TIMEOUT_KEYS[k]: float(v) for k, v in table.items() if k in TIMEOUT_KEYS}
    return replace(settings, **fields) if fields else settings


def for_deployment(settings: Settings, provider: str, deployment: Deployment) -> Settings:
    """The settings a provider factory sees for one deployment: its own key and base URL."""
    fields: dict[str, Any] = {f"{provider}_api_key": deployment.api_key, f"{provider}_base_url": deployment.base_url}
    return replace(settings, **fields)


def configured_names(providers: Mapping[str, Provider]) -> list[str]:
    return sorted(providers)
