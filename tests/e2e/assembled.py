"""What an SDK stream adds up to: the text of choice 0, its last finish_reason and the usage chunk."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk


@dataclass
class Assembled:
    text: str = ""
    finish: str | None = None
    usage: CompletionUsage | None = None


async def assemble(stream: AsyncIterable[ChatCompletionChunk]) -> Assembled:
    out = Assembled()
    async for chunk in stream:
        for choice in chunk.choices:
            out.text += choice.delta.content or ""
            out.finish = choice.finish_reason or out.finish
        if chunk.usage is not None:
            out.usage = chunk.usage
    return out
