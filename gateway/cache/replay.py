"""Streams to stored answers and back.

`Assembler` folds a call's OpenAI chunks (chat.completion.chunk or text_completion) into the one JSON answer
the same request gets without `stream`; `replay_chunks` turns a stored answer into chunks of the shape a
stream has: per choice a role chunk, the content (and refusal, and one chunk per tool call), a finish chunk;
then the usage chunk (`choices: []`), which the route hides from callers who did not ask for it. So a cache
entry serves both forms, whichever filled it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway.types import JSON, CallKind, Chunk


@dataclass(slots=True)
class _ToolCall:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Choice:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    logprobs: list[Any] | None = None
    finish_reason: str | None = None


class Assembler:
    """Feed chunk dicts as they pass; `result()` is the whole answer, or None when the chunks cannot be
    represented faithfully (then the answer is simply not stored)."""

    __slots__ = ("_choices", "_head", "_kind", "_usage", "broken")

    def __init__(self, kind: CallKind) -> None:
        self._kind = kind
        self._head: JSON = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: JSON | None = None
        self.broken = False

    def feed(self, data: JSON) -> None:
        if self.broken:
            return
        if not self._head:
            self._head = {k: data[k] for k in ("id", "created", "model", "system_fingerprint") if k in data}
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        choices = data.get("choices")
        if not isinstance(choices, list):
            return
        for raw in choices:
            if not isinstance(raw, dict) or not isinstance(raw.get("index", 0), int):
                self.broken = True
                return
            choice = self._choices.setdefault(raw.get("index", 0), _Choice())
            if isinstance(raw.get("finish_reason"), str):
                choice.finish_reason = raw["finish_reason"]
            if self._kind == "completion":
                self._feed_text(choice, raw)
            else:
                self._feed_delta(choice, raw)

    def _feed_text(self, choice: _Choice, raw: JSON) -> None:
        if raw.get("logprobs") is not None:  # legacy logprobs do not concatenate simply; not stored
            self.broken = True
        text = raw.get("text")
        if isinstance(text, str):
            choice.content.append(text)

    def _feed_delta(self, choice: _Choice, raw: JSON) -> None:
        logprobs = raw.get("logprobs")
        if isinstance(logprobs, dict):
            if set(logprobs) - {"content", "refusal"} or logprobs.get("refusal"):
                self.broken = True
                return
            content = logprobs.get("content") or []
            if not isinstance(content, list):
                self.broken = True
                return
            choice.logprobs = (choice.logprobs or []) + content
        delta = raw.get("delta")
        if not isinstance(delta, dict):
            return
        if set(delta) - {"role", "content", "reasoning_content", "refusal", "tool_calls"}:
            self.broken = True  # audio, legacy function_call, thinking blocks...: not worth guessing
            return
        if isinstance(delta.get("content"), str):
            choice.content.append(delta["content"])
        if isinstance(delta.get("reasoning_content"), str):
            choice.reasoning.append(delta["reasoning_content"])
        if isinstance(delta.get("refusal"), str):
            choice.refusal.append(delta["refusal"])
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict) or not isinstance(call.get("index"), int):
                self.broken = True
                return
            slot = choice.tool_calls.setdefault(call["index"], _ToolCall())
            if call.get("id"):
                slot.id = call["id"]
            if call.get("type"):
                slot.type = call["type"]
            function = call.get("function")
            if not isinstance(function, dict):
                function = {}
            if isinstance(function.get("name"), str):
                slot.name += function["name"]
            if isinstance(function.get("arguments"), str):
                slot.arguments.append(function["arguments"])

    def result(self) -> JSON | None:
        if self.broken or not self._choices or "id" not in self._head:
            return None
        if self._kind == "completion":
            choices = [
                {"text": "".join(c.content), "index": i, "logprobs": None, "finish_reason": c.finish_reason}
                for i, c in sorted(self._choices.items())
            ]
            answer: JSON = {**self._head, "object": "text_completion", "choices": choices}
        else:
            answer = {**self._head, "object": "chat.completion", "choices": self._chat_choices()}
        if self._usage is not None:
            answer["usage"] = self._usage
        return answer

    def _chat_choices(self) -> list[JSON]:
        choices = []
        for index, c in sorted(self._choices.items()):
            content = "".join(c.content)
            message: JSON = {
                "role": "assistant",
                "content": content if content or not c.tool_calls else None,
                "refusal": "".join(c.refusal) if c.refusal else None,
            }
            if c.reasoning:
                message["reasoning_content"] = "".join(c.reasoning)
            if c.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": t.id,
                        "type": t.type,
                        "function": {"name": t.name, "arguments": "".join(t.arguments)},
                    }
                    for _, t in sorted(c.tool_calls.items())
                ]
            logprobs = {"content": c.logprobs, "refusal": None} if c.logprobs is not None else None
            choices.append({"index": index, "message": message, "logprobs": logprobs, "finish_reason": c.finish_reason})
        return choices


REPLAYED_FIELDS = frozenset({"role", "content", "reasoning_content", "refusal", "tool_calls"})


def replay_chunks(kind: CallKind, answer: JSON) -> list[Chunk] | None:
    """The chunks a stream of `answer` would carry (built fresh: the route may edit them); None when the answer
    holds something the chunks would lose (audio, thinking blocks...)."""
    if kind == "completion":
        return _text_chunks(answer)
    head: JSON = {
        "id": answer.get("id"),
        "object": "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    if "system_fingerprint" in answer:
        head["system_fingerprint"] = answer["system_fingerprint"]
    chunks: list[Chunk] = []

    def add(index: int, delta: JSON, *, logprobs: Any = None, finish_reason: str | None = None) -> None:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        chunks.append(Chunk({**head, "choices": [choice], "usage": None}))

    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        if any(value for name, value in message.items() if name not in REPLAYED_FIELDS):
            return None
        add(index, {"role": "assistant", "content": ""})
        if message.get("reasoning_content"):
            add(index, {"reasoning_content": message["reasoning_content"]})
        if message.get("content"):
            add(index, {"content": message["content"]}, logprobs=choice.get("logprobs"))
        if message.get("refusal"):
            add(index, {"refusal": message["refusal"]})
        for position, call in enumerate(message.get("tool_calls") or ()):
            add(index, {"tool_calls": [{"index": position, **call}]})
        add(index, {}, finish_reason=choice.get("finish_reason"))
    if answer.get("usage") is not None:
        chunks.append(Chunk({**head, "choices": [], "usage": answer["usage"]}))
    return chunks


def _text_chunks(answer: JSON) -> list[Chunk]:
    head: JSON = {
        "id": answer.get("id"),
        "object": "text_completion",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    chunks: list[Chunk] = []
    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        for text, finish in ((choice.get("text") or "", None), ("", choice.get("finish_reason"))):
            data = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
            chunks.append(Chunk({**head, "choices": [data], "usage": None}))
    if answer.get("usage") is not None:
        chunks.append(Chunk({**head, "choices": [], "usage": answer["usage"]}))
    return chunks


class ReplayStream:
    """A `ChunkStream` over chunks already in hand."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Chunk]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        return None
