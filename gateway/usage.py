"""Token usage read from OpenAI-shaped answers and chunks: what the cost, budget and metrics layers meter."""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.types import JSON, Reply


class Usage(NamedTuple):
    """Made from every answer by several layers: a named tuple is as immutable as a frozen dataclass, and
    cheaper to build."""

    prompt_tokens: int = 0  # includes cached_tokens (OpenAI semantics)
    completion_tokens: int = 0  # includes reasoning_tokens
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def usage_from(usage: JSON | None) -> Usage | None:
    """An OpenAI `usage` object (chat, completion or embeddings) -> Usage; None when absent."""
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
    )


def usage_of_body(body: JSON | None) -> Usage | None:
    return usage_from(body.get("usage")) if isinstance(body, dict) else None


def usage_of_reply(reply: Reply) -> Usage | None:
    """The usage of a whole answer (`usage_of_body(reply.body)`), read once per reply and kept on it."""
    if not reply.usage_read:
        reply.usage = usage_of_body(reply.body)
        reply.usage_read = True
    return reply.usage
