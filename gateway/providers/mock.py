"""The `mock` provider: realistic, deterministic answers served in-process, for the demo, tests and benchmarks.

Behaviour is chosen by the model name (`mock/<name>`):

    echo              answers with the last user message (CONTRACT §4)
    slow-<ms>         waits <ms> before answering (streams: before the first chunk)
    flaky-<n>         fails the first n calls of every n+1 with a 503, then succeeds
    error-<status>    always fails with that vendor status (429 carries retry-after: 1; 529 is overloaded)
    err-in-stream     streams some content, then fails mid-stream
    anything else     a fixed, deterministic sentence naming the model

When tools are offered (and `tool_choice` is not "none") it calls one: the named one, else the first, with
arguments built from the tool's JSON schema. Usage is counted as ~4 characters per token; `max_tokens`
truncates with `finish_reason: "length"`. Streams pace their chunks by `MOCK_STREAM_DELAY_MS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import struct
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.providers.base import new_completion_id, now_s
from gateway.types import JSON, ChatCall, Chunk, Reply
from translators.embeddings import encode_vector
from translators.errors import VendorError, kind_for_status

DEFAULT_EMBEDDING_DIMENSIONS = 8
_SLOW = re.compile(r"^slow(?:-(\d+))?$")
_FLAKY = re.compile(r"^flaky-(\d+)$")
_ERROR = re.compile(r"^error-(\d{3})$")


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _sample_value(schema: Any) -> Any:
    """A deterministic value that satisfies the common JSON-schema shapes."""
    if not isinstance(schema, dict):
        return "mock"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {name: _sample_value(props.get(name)) for name in required if name in props}
    if kind == "array":
        return [_sample_value(schema.get("items"))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return "mock"


class MockProvider:
    name = "mock"

    def __init__(self, *, stream_delay_ms: float = 20.0) -> None:
        self._delay_s = max(0.0, stream_delay_ms / 1000)
        self._calls: Counter[str] = Counter()

    async def aclose(self) -> None:
        return None

    async def list_models(self) -> list[JSON]:
        return [
            {"id": name, "object": "model", "created": 0, "owned_by": "mock"}
            for name in ("echo", "mock-embedding", "slow", "err-in-stream")
        ]

    async def send(self, call: ChatCall) -> Reply:
        model = call.target.model
        await self._misbehave(model)
        if call.kind == "embedding":
            return Reply(call.target, body=self._embeddings(call))
        answer = self._answer(call)
        if call.stream:
            return Reply(call.target, stream=_ChunkStream(self._chunks(call, answer)))
        return Reply(call.target, body=answer)

    async def _misbehave(self, model: str) -> None:
        if slow := _SLOW.match(model):
            await asyncio.sleep(int(slow.group(1) or 2000) / 1000)
        elif flaky := _FLAKY.match(model):
            period = int(flaky.group(1)) + 1
            self._calls[model] += 1
            if self._calls[model] % period != 0:
                raise UpstreamError.from_vendor(
                    self.name, VendorError("server", "mock: flaky upstream failed this call", status=503)
                )
        elif error := _ERROR.match(model):
            status = int(error.group(1))
            kind = kind_for_status(status)
            message = "mock: Overloaded" if status == 529 else f"mock: simulated HTTP {status}"
            raise UpstreamError.from_vendor(
                self.name,
                VendorError(kind, message, status=status, retry_after_s=1.0 if status == 429 else None),
            )

    # ---- chat -------------------------------------------------------------------------------------

    def _answer(self, call: ChatCall) -> JSON:
        body = call.body
        messages = body.get("messages") or []
        prompt_text = " ".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))
        prompt_tokens = count_tokens(prompt_text) + 3 * len(messages)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        n = body.get("n") or 1
        tool_call = self._tool_call(body)
        choices = []
        completion_tokens = 0
        for index in range(n):
            if tool_call is not None:
                message: JSON = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
                finish = "tool_calls"
                completion_tokens += count_tokens(tool_call["function"]["arguments"]) + 5
            else:
                text = self._text(call.target.model, messages)
                words = text.split(" ")
                finish = "stop"
                if limit is not None and len(words) > limit:
                    text, finish = " ".join(words[:limit]), "length"
                message = {"role": "assistant", "content": text, "refusal": None}
                completion_tokens += count_tokens(text)
            choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
        return {
            "id": new_completion_id(),
            "object": "chat.completion",
            "created": now_s(),
            "model": call.target.model,
            "system_fingerprint": "fp_mock",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }

    @staticmethod
    def _text(model: str, messages: list[Any]) -> str:
        last_user = next(
            (
                _content_text(m.get("content"))
                for m in reversed(messages)
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            "",
        )
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if last.get("role") == "tool":
            return f"The tool answered: {_content_text(last.get('content'))}"
        if model == "echo":
            return last_user
        digest = hashlib.sha256(last_user.encode()).hexdigest()[:8]
        return f"This is a mock answer from {model} to a prompt of {len(last_user)} characters (digest {digest})."

    @staticmethod
    def _tool_call(body: JSON) -> JSON | None:
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        choice = body.get("tool_choice")
        messages = body.get("messages") or []
        answered = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
        if not tools or choice == "none" or (answered and choice in (None, "auto")):
            return None  # after a tool result the model answers in words, as real models do
        tool = tools[0]
        if isinstance(choice, dict) and choice.get("type") == "function":
            wanted = (choice.get("function") or {}).get("name")
            tool = next((t for t in tools if t["function"]["name"] == wanted), tool)
        function = tool["function"]
        arguments = orjson.dumps(_sample_value(function.get("parameters") or {})).decode()
        digest = hashlib.sha256((function["name"] + arguments).encode()).hexdigest()[:24]
        return {
            "id": f"call_{digest}",
            "type": "function",
            "function": {"name": function["name"], "arguments": arguments},
        }

    async def _chunks(self, call: ChatCall, answer: JSON) -> AsyncIterator[Chunk]:
        base = {
            "id": answer["id"],
            "object": "chat.completion.chunk",
            "created": answer["created"],
            "model": answer["model"],
            "system_fingerprint": "fp_mock",
        }
        failing = call.target.model == "err-in-stream"

        def chunk(choices: list[JSON], usage: JSON | None = None) -> Chunk:
            return Chunk({**base, "choices": choices, "usage": usage})

        for choice in answer["choices"]:
            index = choice["index"]
            message = choice["message"]
            yield chunk(
                [
                    {
                        "index": index,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            )
            if message.get("tool_calls"):
                call_ = message["tool_calls"][0]
                arguments = call_["function"]["arguments"]
                yield chunk(
                    [
                        {
                            "index": index,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": call_["id"],
                                        "type": "function",
                                        "function": {"name": call_["function"]["name"], "arguments": ""},
                                    }
                                ]
                            },
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
                for start in range(0, len(arguments), 16):
                    await asyncio.sleep(self._delay_s)
                    yield chunk(
                        [
                            {
                                "index": index,
                                "delta": {
                                    "tool_calls": [
                                        {"index": 0, "function": {"arguments": arguments[start : start + 16]}}
                                    ]
                                },
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
            else:
                words = (message.get("content") or "").split(" ")
                for position, word in enumerate(words):
                    await asyncio.sleep(self._delay_s)
                    if failing and position == 2:
                        raise UpstreamError.from_vendor(
                            self.name, VendorError("server", "mock: the stream broke", status=500)
                        )
                    yield chunk(
                        [
                            {
                                "index": index,
                                "delta": {"content": word if position == 0 else " " + word},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
            yield chunk([{"index": index, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}])
        yield Chunk({**base, "choices": [], "usage": answer["usage"]})  # always: the pipeline meters it

    # ---- embeddings -------------------------------------------------------------------------------

    def _embeddings(self, call: ChatCall) -> JSON:
        body = call.body
        inputs = body["input"]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dimensions = body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += count_tokens(text) if isinstance(item, str) else len(item)
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": encode_vector(_vector(text, dimensions), body.get("encoding_format")),
                }
            )
        return {
            "object": "list",
            "data": data,
            "model": call.target.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _vector(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from the text's hash: equal texts give equal vectors."""
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw[: dimensions * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


class _ChunkStream:
    """Adapts the mock's async generator to the closable `ChunkStream` seam."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: AsyncIterator[Chunk]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]  # an async generator
