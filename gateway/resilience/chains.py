"""Fallback chains: which models a failed call may move to, in order (CONTRACT §4, §9).

The chain comes from the request's `fallbacks` field (an empty list disables failover), else from
`[fallbacks]` in GATEWAY_CONFIG (looked up by the name the caller used, then `provider/model`, then the bare
model id), else from a built-in default: the catalog's models of the same tier (flagship, fast, embedding)
across the configured providers. A chain only keeps models whose provider is configured and that can do what
the call asks (tools, images, JSON output, streaming, embedding dimensions), so failover never turns a
working request into a wrong answer.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping

from gateway.catalog import PROVIDERS, Catalog, ModelInfo
from gateway.errors import GatewayError, ModelNotFoundError
from gateway.types import ChatCall, Target

logger = logging.getLogger(__name__)

FAST_MARKERS = ("mini", "nano", "flash", "haiku", "lite")
JSON_CAPABILITIES = frozenset({"json_object", "json_schema"})


def tier_of(info: ModelInfo) -> str | None:
    """The model's tier from the catalog, else a guess from its kind and name (most models carry no tier)."""
    if info.tier is not None:
        return info.tier
    if info.kind == "embedding":
        return "embedding"
    if info.kind != "chat":
        return None
    return "fast" if any(marker in info.id for marker in FAST_MARKERS) else "flagship"


def _uses_images(messages: object) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "image_url" for part in content
        ):
            return True
    return False


def capable(info: ModelInfo | None, call: ChatCall) -> bool:
    """Can this model serve the call as asked? An unknown model (not in the catalog) is trusted only because
    someone named it in a chain; the default chains hold catalog models only."""
    if info is None:
        return True
    caps = info.capabilities
    body = call.body
    if call.kind == "embedding":
        return info.kind == "embedding" and (not body.get("dimensions") or "dimensions" in caps)
    if info.kind != call.kind:
        return False
    if call.stream and "streaming" not in caps:
        return False
    if (body.get("tools") or body.get("functions")) and "tools" not in caps:
        return False
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema" and "json_schema" not in caps:
        return False
    if kind == "json_object" and not caps & JSON_CAPABILITIES:
        return False
    return not (_uses_images(body.get("messages")) and "vision" not in caps)


class Chains:
    """Resolves a call's fallback targets with the catalog, among the providers configured at that moment."""

    def __init__(
        self, catalog: Catalog, *, configured: Collection[str], fallbacks: Mapping[str, tuple[str, ...]]
    ) -> None:
        self._catalog = catalog
        self._configured = configured  # the live providers dict (filled at start-up)
        self._fallbacks = fallbacks

    def check(self, call: ChatCall) -> None:
        """Reject a request's own chain naming an unknown model (404 naming `fallbacks`), before any call."""
        for name in call.fallbacks or ():
            try:
                self._catalog.resolve(name)
            except ModelNotFoundError as exc:
                raise ModelNotFoundError(exc.message, param="fallbacks") from None

    def after(self, call: ChatCall) -> list[Target]:
        """The targets to try after `call.target`, in order."""
        primary = call.target
        if call.fallbacks is not None:
            return self._usable(call, self._resolve(call.fallbacks, strict=True))
        names = self._configured_chain(call)
        if names is not None:
            return self._usable(call, self._resolve(names, strict=False))
        return self._usable(call, self._default(primary, call))

    def _configured_chain(self, call: ChatCall) -> tuple[str, ...] | None:
        requested = call.body.get("model")
        for key in (requested, call.target.label, call.target.model):
            if isinstance(key, str) and key in self._fallbacks:
                return self._fallbacks[key]
        return None

    def _resolve(self, names: Iterable[str], *, strict: bool) -> list[Target]:
        targets = []
        for name in names:
            try:
                targets.append(self._catalog.resolve(name))
            except GatewayError:
                if strict:
                    raise
                logger.warning("unknown model in a [fallbacks] chain skipped", extra={"model": name})
        return targets

    def _default(self, primary: Target, call: ChatCall) -> list[Target]:
        info = self._catalog.info(primary)
        tier = tier_of(info) if info is not None else None
        if tier is None or (tier == "embedding" and not call.body.get("dimensions")):
            # vectors of different models live in different spaces; only a fixed `dimensions` makes them fit
            return []
        same_tier = [m for m in self._catalog.models() if m.tier == tier and m.provider != "mock"]
        order = {name: rank for rank, name in enumerate(PROVIDERS)}
        order[primary.provider] = -1  # another model of the same vendor first, then the other vendors
        same_tier.sort(key=lambda m: order.get(m.provider, len(order)))
        return [Target(m.provider, m.id) for m in same_tier]

    def _usable(self, call: ChatCall, targets: list[Target]) -> list[Target]:
        seen = {call.target}
        usable = []
        for target in targets:
            if target in seen or target.provider not in self._configured:
                continue
            seen.add(target)
            if capable(self._catalog.info(target), call):
                usable.append(target)
        return usable
