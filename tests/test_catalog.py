from __future__ import annotations

import pytest

from gateway.catalog import Catalog
from gateway.errors import ModelNotFoundError
from gateway.types import Target

CATALOG = Catalog.bundled({"fast": "openai/gpt-4o-mini"})


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("gpt-4o", Target("openai", "gpt-4o")),
        ("o3-mini", Target("openai", "o3-mini")),
        ("o4-mini", Target("openai", "o4-mini")),
        ("chatgpt-4o-latest", Target("openai", "chatgpt-4o-latest")),
        ("text-embedding-3-small", Target("openai", "text-embedding-3-small")),
        ("claude-sonnet-4-5", Target("anthropic", "claude-sonnet-4-5")),
        ("gemini-2.5-pro", Target("google", "gemini-2.5-pro")),
        ("text-embedding-004", Target("google", "text-embedding-004")),
        ("openai/gpt-4o", Target("openai", "gpt-4o")),
        ("gemini/gemini-2.5-flash", Target("google", "gemini-2.5-flash")),
        ("mock/echo", Target("mock", "echo")),
        ("claude-3-sonnet", Target("anthropic", "claude-sonnet-4-5")),
        ("anthropic/claude-3-sonnet", Target("anthropic", "claude-sonnet-4-5")),
        ("fast", Target("openai", "gpt-4o-mini")),
    ],
)
def test_resolve_routes_per_contract(name: str, target: Target) -> None:
    assert CATALOG.resolve(name) == target


@pytest.mark.parametrize("name", ["llama-3", "bogus/gpt-4o", "openai/", "mistral/large"])
def test_resolve_unknown_model_is_404(name: str) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        CATALOG.resolve(name)
    assert caught.value.status == 404 and caught.value.code == "model_not_found" and caught.value.param == "model"


def test_bundled_catalog_has_prices_and_capabilities() -> None:
    info = CATALOG.info(Target("openai", "gpt-4o"))
    assert info is not None and info.price is not None and info.price["input"] > 0
    assert "tools" in info.capabilities
    assert {m.provider for m in CATALOG.models()} == {"openai", "anthropic", "google", "mock"}
