"""Fallback chains: sources in order of precedence, configured providers only, never a less capable model."""

from __future__ import annotations

from typing import Any

from gateway.catalog import Catalog, ModelInfo
from gateway.resilience.chains import Chains, tier_of
from gateway.types import ChatCall, Principal, Target

ALL = ("openai", "anthropic", "google", "mock")
CATALOG = Catalog.bundled()


def call(model: str = "gpt-4o", *, kind: str = "chat", stream: bool = False, **body: Any) -> ChatCall:
    return ChatCall(
        kind=kind,  # type: ignore[arg-type]
        body={"model": model, "messages": [{"role": "user", "content": "hi"}], **body},
        target=CATALOG.resolve(model),
        principal=Principal("alice"),
        request_id="r",
        stream=stream,
        fallbacks=tuple(body["fallbacks"]) if "fallbacks" in body else None,
    )


def labels(targets: list[Target]) -> list[str]:
    return [t.label for t in targets]


def test_chains_config_chain_by_requested_name() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"gpt-4o": ("claude-sonnet-4-5", "gemini-2.5-pro")})
    assert labels(chains.after(call())) == ["anthropic/claude-sonnet-4-5", "google/gemini-2.5-pro"]


def test_chains_config_chain_by_provider_label() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"openai/gpt-4o": ("mock/echo",)})
    assert labels(chains.after(call())) == ["mock/echo"]


def test_chains_request_field_wins_over_config() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    assert labels(chains.after(call(fallbacks=["gemini-2.5-flash"]))) == ["google/gemini-2.5-flash"]


def test_chains_only_configured_providers() -> None:
    chains = Chains(CATALOG, configured=("openai", "google"), fallbacks={"gpt-4o": ("claude-sonnet-4-5", "gemini-pro")})
    assert labels(chains.after(call())) == ["google/gemini-2.5-pro"]


def test_chains_default_flagship_tier_same_vendor_first() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={})
    assert labels(chains.after(call("gpt-4o"))) == [
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5",
        "google/gemini-2.5-pro",
    ]


def test_chains_default_fast_tier_for_small_models() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={})
    assert labels(chains.after(call("claude-haiku-4-5"))) == ["openai/gpt-5-mini", "google/gemini-2.5-flash"]


def test_chains_default_never_includes_the_model_itself_or_mock() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={})
    chain = labels(chains.after(call("claude-sonnet-4-5")))
    assert "anthropic/claude-sonnet-4-5" not in chain
    assert not any(label.startswith("mock/") for label in chain)


def test_chains_skip_models_without_tools() -> None:
    catalog = Catalog(
        [
            *CATALOG.models(),
            ModelInfo("plain", "google", "chat", None, None, frozenset({"chat", "streaming"}), None, None),
        ],
        {},
    )
    chains = Chains(catalog, configured=ALL, fallbacks={"gpt-4o": ("google/plain", "claude-sonnet-4-5")})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert labels(chains.after(call(tools=tools))) == ["anthropic/claude-sonnet-4-5"]
    assert labels(chains.after(call())) == ["google/plain", "anthropic/claude-sonnet-4-5"]


def test_chains_skip_models_without_vision_for_images() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"gpt-4o": ("o3-mini", "gpt-4.1")})
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    body_call = call(messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}])
    assert labels(chains.after(body_call)) == ["openai/gpt-4.1"]


def test_chains_skip_models_without_json_schema() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"gpt-4o": ("gpt-3.5-turbo", "gpt-4.1")})
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert labels(chains.after(call(response_format=schema))) == ["openai/gpt-4.1"]
    assert labels(chains.after(call(response_format={"type": "json_object"}))) == [
        "openai/gpt-3.5-turbo",
        "openai/gpt-4.1",
    ]


def test_chains_embeddings_cross_only_with_fixed_dimensions() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={})
    plain = call("text-embedding-3-small", kind="embedding")
    assert chains.after(plain) == []  # vectors of another model would not fit the caller's index
    sized = call("text-embedding-3-small", kind="embedding", dimensions=256)
    assert labels(chains.after(sized)) == ["google/gemini-embedding-001"]


def test_chains_embedding_chain_never_reaches_a_chat_model() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"text-embedding-3-small": ("gpt-4o", "text-embedding-004")})
    sized = call("text-embedding-3-small", kind="embedding", dimensions=256)
    assert labels(chains.after(sized)) == ["google/text-embedding-004"]


def test_chains_embedding_dimensions_need_the_capability() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"text-embedding-3-small": ("text-embedding-ada-002",)})
    assert chains.after(call("text-embedding-3-small", kind="embedding", dimensions=256)) == []


def test_chains_unknown_config_model_is_skipped() -> None:
    chains = Chains(CATALOG, configured=ALL, fallbacks={"gpt-4o": ("nonsense-model", "mock/echo")})
    assert labels(chains.after(call())) == ["mock/echo"]


def test_tier_of_guesses_from_the_name() -> None:
    assert tier_of(next(m for m in CATALOG.models("openai") if m.id == "gpt-4o-mini")) == "fast"
    assert tier_of(next(m for m in CATALOG.models("openai") if m.id == "gpt-4.1")) == "flagship"
    assert tier_of(next(m for m in CATALOG.models("openai") if m.id == "text-embedding-3-large")) == "embedding"
