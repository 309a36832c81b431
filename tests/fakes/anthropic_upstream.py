"""A loopback fake of the Anthropic Messages API that enforces the rules the real API enforces, so that an
end-to-end test fails if the gateway sends something Anthropic would reject.

Checked on every `POST /v1/messages` (a 400 `invalid_request_error` naming the rule otherwise): `x-api-key` (401
if wrong) and `anthropic-version` headers; `model`, `max_tokens` and a non-empty `messages` present; only `user`
and `assistant` roles, alternating and starting with `user`; no empty messages or whitespace-only text blocks;
every `tool_use` answered by a `tool_result` in the next user turn, results first, and no result without its
call; tool ids matching ^[a-zA-Z0-9_-]+$; `temperature` in 0..1; stop sequences not blank; thinking budget
rules. `state.violations` records every rejection.

Answers by model name: `claude-fail-<status>` fails with that status and an Anthropic error body;
`claude-overloaded-mid-stream` streams some text and then an `overloaded_error` event. Otherwise, when tools are
offered and the last user turn holds no tool results, it calls one tool (the named one, else the first);
else it answers text that quotes the tool results it received. `stream: true` answers Anthropic SSE.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

JSON = dict[str, Any]
API_VERSION = "2023-06-01"
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class FakeAnthropicState:
    api_key: str
    requests: list[JSON] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


class RuleViolationError(Exception):
    """A request the real Anthropic API would refuse."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def check_request(body: Any) -> None:
    """Raise RuleViolationError if Anthropic would reject `body`."""
    if not isinstance(body, dict):
        raise RuleViolationError("body: must be a JSON object")
    if not isinstance(body.get("model"), str):
        raise RuleViolationError("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise RuleViolationError("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RuleViolationError("messages: at least one message is required")
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise RuleViolationError(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if index == 0 and role != "user":
            raise RuleViolationError('messages: first message must use the "user" role')
        if index and role == messages[index - 1]["role"]:
            raise RuleViolationError('messages: roles must alternate between "user" and "assistant"')
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks:
            raise RuleViolationError(f"messages.{index}: all messages must have non-empty content")
        for block in blocks:
            if block.get("type") == "text" and not str(block.get("text", "")).strip():
                raise RuleViolationError(f"messages.{index}: text content blocks must contain non-whitespace text")
            if block.get("type") == "tool_use" and not TOOL_ID.match(str(block.get("id", ""))):
                raise RuleViolationError(f"messages.{index}: tool_use.id: String should match pattern")
        _check_tool_round(messages, index, blocks)
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise RuleViolationError("temperature: Input should be less than or equal to 1")
    for stop in body.get("stop_sequences") or ():
        if not str(stop).strip():
            raise RuleViolationError("stop_sequences: each stop sequence must contain non-whitespace")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024 or budget >= max_tokens:
            raise RuleViolationError("thinking.budget_tokens: must be >= 1024 and less than max_tokens")
        if temperature is not None and temperature != 1:
            raise RuleViolationError("temperature may only be set to 1 when thinking is enabled")


def _check_tool_round(messages: list[JSON], index: int, blocks: list[JSON]) -> None:
    role = messages[index]["role"]
    if role == "assistant":
        asked = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        if not asked:
            return
        following = messages[index + 1]["content"] if index + 1 < len(messages) else []
        answered = {b.get("tool_use_id") for b in following if isinstance(b, dict) and b.get("type") == "tool_result"}
        if not asked <= answered:
            raise RuleViolationError(
                "messages: `tool_use` ids were found without `tool_result` blocks immediately after"
            )
        return
    kinds = [b.get("type") for b in blocks]
    if "tool_result" in kinds:
        last_result = max(i for i, kind in enumerate(kinds) if kind == "tool_result")
        if any(kind != "tool_result" for kind in kinds[:last_result]):
            raise RuleViolationError(f"messages.{index}: tool_result blocks must come first")
    before = messages[index - 1]["content"] if index else []
    asked = {b.get("id") for b in before if isinstance(b, dict) and b.get("type") == "tool_use"}
    for block in blocks:
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in asked:
            raise RuleViolationError(f"messages.{index}: unexpected `tool_use_id` found in `tool_result` blocks")


def _answer(body: JSON) -> tuple[list[JSON], str]:
    """The content blocks and stop reason this fake answers with."""
    last = body["messages"][-1]
    results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if tools and not results and choice.get("type") != "none":
        name = choice.get("name") if choice.get("type") == "tool" else tools[0]["name"]
        return [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_fake_01", "name": name, "input": {"city": "Paris"}},
        ], "tool_use"
    if results:
        quoted = "; ".join(str(r.get("content", "")) for r in results)
        return [{"type": "text", "text": f"Tool said: {quoted}"}], "end_turn"
    return [{"type": "text", "text": "Hello from fake Claude"}], "end_turn"


USAGE = {"input_tokens": 11, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 7}


def _event(payload: JSON) -> bytes:
    kind: str = payload["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


async def _events(body: JSON, content: list[JSON], stop_reason: str) -> AsyncIterator[bytes]:
    message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"], "content": []}
    start_usage = {**USAGE, "output_tokens": 1}
    yield _event({"type": "message_start", "message": {**message, "stop_reason": None, "usage": start_usage}})
    yield _event({"type": "ping"})
    for index, block in enumerate(content):
        if block["type"] == "text":
            yield _event({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            text = block["text"]
            for start in range(0, len(text), 5):
                delta = {"type": "text_delta", "text": text[start : start + 5]}
                yield _event({"type": "content_block_delta", "index": index, "delta": delta})
            if body["model"] == "claude-overloaded-mid-stream":
                error = {"type": "overloaded_error", "message": "Overloaded"}
                yield _event({"type": "error", "error": error})
                return
        else:
            start_block = {**block, "input": {}}
            yield _event({"type": "content_block_start", "index": index, "content_block": start_block})
            arguments = orjson.dumps(block["input"]).decode()
            for start in range(0, len(arguments), 6):
                delta = {"type": "input_json_delta", "partial_json": arguments[start : start + 6]}
                yield _event({"type": "content_block_delta", "index": index, "delta": delta})
        yield _event({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    yield _event({"type": "message_delta", "delta": delta, "usage": {"output_tokens": USAGE["output_tokens"]}})
    yield _event({"type": "message_stop"})


def build_fake_anthropic(state: FakeAnthropicState) -> Starlette:
    async def messages(request: Request) -> Response:
        if request.headers.get("x-api-key") != state.api_key:
            state.violations.append("x-api-key")
            return _error(401, "invalid x-api-key")
        if request.headers.get("anthropic-version") != API_VERSION:
            state.violations.append("anthropic-version")
            return _error(400, "anthropic-version: header is required")
        body = orjson.loads(await request.body())
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        try:
            check_request(body)
        except RuleViolationError as exc:
            state.violations.append(str(exc))
            return _error(400, str(exc))
        model = body["model"]
        if model.startswith("claude-fail-"):
            status = int(model.removeprefix("claude-fail-"))
            headers = {"retry-after": "3"} if status == 429 else None
            message = "Overloaded" if status == 529 else f"fake failure {status}"
            return _error(status, message, headers)
        content, stop_reason = _answer(body)
        if body.get("stream"):
            return StreamingResponse(_events(body, content, stop_reason), media_type="text/event-stream")
        answer = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": USAGE,
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    async def models(request: Request) -> Response:
        if request.headers.get("x-api-key") != state.api_key:
            return _error(401, "invalid x-api-key")
        page = {
            "data": [{"type": "model", "id": "claude-sonnet-4-5", "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": False,
            "last_id": "claude-sonnet-4-5",
        }
        return Response(orjson.dumps(page), media_type="application/json")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"]), Route("/v1/models", models)])
