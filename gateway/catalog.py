"""The model catalog and the routing rules of CONTRACT §4: which provider serves a model name.

The bundled table (`data/models.json`, dated) lists known models with context window, capabilities,
tier and list prices, plus the short aliases of the original service. `GATEWAY_CONFIG` may add aliases.
`resolve()` is pure and cheap: it sits on every request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gateway.errors import ModelNotFoundError
from gateway.types import Target

PROVIDERS = ("openai", "anthropic", "google", "mock")
PREFIX_ALIASES = {"gemini": "google"}  # `gemini/` is accepted as a model prefix meaning `google`

# name prefixes (and exact names) -> provider, in the order CONTRACT §4 gives them
NAME_RULES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt-", "openai"),
    ("text-embedding-3-", "openai"),
    ("text-embedding-ada-002", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "google"),
    ("text-embedding-004", "google"),
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    provider: str
    kind: str  # chat | completion | embedding
    context_window: int | None
    max_output_tokens: int | None
    capabilities: frozenset[str]
    tier: str | None
    price: Mapping[str, float] | None  # USD per 1M tokens: input, output, cached_input

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "capabilities": sorted(self.capabilities),
            "tier": self.tier,
            "pricing": dict(self.price) if self.price is not None else None,
        }


class Catalog:
    """Known models and aliases; `resolve(name)` applies CONTRACT §4."""

    def __init__(self, models: Iterable[ModelInfo], aliases: Mapping[str, str], *, as_of: str = "") -> None:
        self.as_of = as_of
        self._models: dict[tuple[str, str], ModelInfo] = {(m.provider, m.id): m for m in models}
        self._aliases = dict(aliases)
        self._resolved: dict[str, Target] = {}

    @classmethod
    def bundled(cls, extra_aliases: Mapping[str, str] | None = None) -> Catalog:
        text = resources.files("gateway").joinpath("data", "models.json").read_text(encoding="utf-8")
        doc = json.loads(text)
        models = [
            ModelInfo(
                id=m["id"],
                provider=m["provider"],
                kind=m["kind"],
                context_window=m.get("context_window"),
                max_output_tokens=m.get("max_output_tokens"),
                capabilities=frozenset(m.get("capabilities", ())),
                tier=m.get("tier"),
                price=m.get("price"),
            )
            for m in doc["models"]
        ]
        aliases = {**doc.get("aliases", {}), **(extra_aliases or {})}
        return cls(models, aliases, as_of=doc.get("as_of", ""))

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        return [m for m in self._models.values() if provider is None or m.provider == provider]

    def info(self, target: Target) -> ModelInfo | None:
        return self._models.get((target.provider, target.model))

    def resolve(self, name: str) -> Target:
        """`provider/model`, an alias, or a bare vendor id -> Target. Unknown names raise 404 model_not_found."""
        cached = self._resolved.get(name)
        if cached is not None:
            return cached
        target = self._resolve(name, depth=0)
        if len(self._resolved) < 4096:  # bounded: names come from callers
            self._resolved[name] = target
        return target

    def _resolve(self, name: str, depth: int) -> Target:
        alias = self._aliases.get(name)
        if alias is not None and depth < 4:
            return self._resolve(alias, depth + 1)
        prefix, slash, rest = name.partition("/")
        if slash:
            provider = PREFIX_ALIASES.get(prefix, prefix)
            if provider in PROVIDERS and rest:
                inner = self._aliases.get(rest)
                if inner is not None and depth < 4:
                    target = self._resolve(inner, depth + 1)
                    if target.provider == provider:
                        return target
                return Target(provider, rest)
        else:
            for rule, provider in NAME_RULES:
                if name.startswith(rule):
                    return Target(provider, name)
        raise ModelNotFoundError(
            f"The model '{name}' does not exist or is not routed by this gateway. Use provider/model "
            f"(openai/, anthropic/, google/, mock/) or a known model id; GET /api/llm/models lists them.",
            param="model",
        )
