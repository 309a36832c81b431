"""A loopback fake of the OpenAI API for end-to-end tests: chat (JSON and SSE), completions, embeddings, models.

Behaviour by model name: `fail-<status>` answers that status with an OpenAI error body; `slow-stream` streams a
chunk every 50 ms for ~10 s (to observe cancellation). `state` records what it saw.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class FakeState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    streams_started: int = 0
    streams_cancelled: int = 0
    streams_finished: int = 0


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(status: int) -> Response:
    kinds = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }
    headers = {"retry-after": "1"} if status == 429 else None
    body = {
        "error": {
            "message": f"fake failure {status}",
            "type": kinds.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }
    return _json(body, status, headers)


def _tool_call(body: dict[str, Any], name: str, usage: dict[str, int]) -> Response:
    call = {"id": "call_fake_1", "type": "function", "function": {"name": name, "arguments": '{"city":"Paris"}'}}
    base = {"id": "chatcmpl-fake", "created": 1, "model": body["model"]}
    if not body.get("stream"):
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
    first = {**call, "index": 0, "function": {"name": name, "arguments": ""}}
    deltas = [
        {"role": "assistant", "content": None, "tool_calls": [first]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
    ]
    frames = [
        {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
        for d in deltas
    ]
    frames.append(
        {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        }
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        frames.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    raw = b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in frames) + b"data: [DONE]\n\n"
    return Response(raw, media_type="text/event-stream")


def build_fake_openai(state: FakeState) -> Starlette:
    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        model = body["model"]
        if model.startswith("fail-"):
            return _error(int(model.removeprefix("fail-")))
        text = "Hello from fake OpenAI"
        usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
        tools = body.get("tools") or []
        if tools and body["messages"][-1]["role"] != "tool" and body.get("tool_choice") != "none":
            return _tool_call(body, tools[0]["function"]["name"], usage)
        if body["messages"][-1]["role"] == "tool":
            text = f"Tool said: {body['messages'][-1]['content']}"
        if not body.get("stream"):
            return _json(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def frame(choices: list[Any], usage_value: Any = None) -> bytes:
            data: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": choices,
            }
            if include_usage:
                data["usage"] = usage_value
            return b"data: " + orjson.dumps(data) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            state.streams_started += 1
            try:
                yield frame([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                words = text.split(" ") if model != "slow-stream" else ["tick"] * 200
                for i, word in enumerate(words):
                    if model == "slow-stream":
                        await asyncio.sleep(0.05)
                    yield frame(
                        [{"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}]
                    )
                yield frame([{"index": 0, "delta": {}, "finish_reason": "stop"}])
                if include_usage:
                    yield frame([], usage)
                yield b"data: [DONE]\n\n"
                state.streams_finished += 1
            except asyncio.CancelledError:
                state.streams_cancelled += 1
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        state.requests.append(body)
        return _json(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"text": " Paris.", "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
            }
        )

    async def embeddings(request: Request) -> Response:
        body = orjson.loads(await request.body())
        state.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = body.get("dimensions") or 3
        data = []
        for index, _ in enumerate(inputs):
            vector = [float(index + 1)] * size
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return _json(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 2, "total_tokens": 2}}
        )

    async def models(request: Request) -> Response:
        return _json(
            {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}]}
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
