"""OpenAI chat request -> Anthropic Messages request (wire-formats §6.1, §6.2, §6.12).

Simple fields are data: `RENAMES` moves a field (dotted target = nested), `RANGES` adjusts a value to the
vendor's range and reports it, `CONVERT` reshapes a value, `UNSUPPORTED` says which values of fields Anthropic
lacks are harmless (anything else is a 400 naming the field), `REPORTED_DROPS` are dropped and reported.
Code handles only what is structural: messages and system, tools and tool_choice, response_format and thinking.

Policies (never silent; adjusted names go to `x-gateway-adjusted`):
- system/developer messages, wherever they appear, are hoisted in order into top-level `system`.
- consecutive same-role turns are merged; tool messages become `tool_result` blocks, first in their user turn.
- a conversation that starts with an assistant turn gets a minimal user turn before it, as Anthropic
  requires the first turn to be the user's (chat UIs often open with an assistant greeting).
- `response_format: json_schema` uses Anthropic structured outputs (`output_config.format`): decoding is
  constrained to the caller's schema, sent unchanged, and the JSON arrives as ordinary text, so responses and
  streams need no special handling. `json_object` has no Anthropic equivalent: a system instruction asks for
  one JSON object (best effort).
- `reasoning_effort` becomes a thinking budget below `max_tokens`; thinking is left off (and reported) when
  the conversation cannot carry it (an assistant prefill, or a tool round whose assistant turn has no echoed
  thinking block), since Anthropic rejects those.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from translators.anthropic.types import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    MessageParam,
    TextBlock,
    ToolChoice,
    ToolParam,
    ToolResultBlock,
)
from translators.errors import TranslationError

JSON = dict[str, Any]

# OpenAI field -> Anthropic field (a dot means nested). Later entries win for the same target:
# `max_completion_tokens` over `max_tokens`, `safety_identifier` over `user`.
RENAMES: dict[str, str] = {
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",  # not OpenAI; sent by clients that know Anthropic
    "stop": "stop_sequences",
    "stream": "stream",
    "user": "metadata.user_id",
    "safety_identifier": "metadata.user_id",
}

# OpenAI field -> the vendor's inclusive range; a value outside is moved to the nearest bound and reported.
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 1.0),  # OpenAI allows 0..2
}

# field -> "this value asks Anthropic for nothing"; any other value cannot be honoured (400 naming the field).
UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "n": lambda v: v is None or v == 1,
    "presence_penalty": lambda v: not v,
    "frequency_penalty": lambda v: not v,
    "logit_bias": lambda v: not v,
    "logprobs": lambda v: not v,
    "top_logprobs": lambda v: not v,
    "audio": lambda v: v is None,
    "modalities": lambda v: v is None or v == ["text"],
    "web_search_options": lambda v: v is None,
    "functions": lambda v: v is None,
    "function_call": lambda v: v is None,
}

# best-effort hints Anthropic has no way to take: dropped, and named in x-gateway-adjusted.
REPORTED_DROPS: tuple[str, ...] = ("seed",)

# reasoning_effort -> thinking budget in tokens (None: no thinking). Anthropic's minimum budget is 1024.
THINKING_BUDGETS: dict[str, int | None] = {
    "none": None,
    "minimal": None,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32000,
    "max": 32000,
}
MIN_THINKING_BUDGET = 1024
THINKING_TOP_P_MIN = 0.95  # with thinking, Anthropic accepts top_p only in [0.95, 1]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MIME_FIXES = {"image/jpg": "image/jpeg"}
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
FIRST_USER_TEXT = "(conversation start)"
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences, no text outside it."
)


def _stop_sequences(value: Any) -> list[str] | None:
    stops = [value] if isinstance(value, str) else list(value or ())
    for stop in stops:
        if not isinstance(stop, str) or not stop.strip():
            raise TranslationError(
                "Anthropic rejects empty or whitespace-only stop sequences (such as '\\n'); remove them from `stop`.",
                param="stop",
            )
    return stops or None


CONVERT: dict[str, Callable[[Any], Any]] = {"stop": _stop_sequences}


def build_request(body: JSON, *, model: str, default_max_tokens: int) -> tuple[JSON, tuple[str, ...]]:
    """The Anthropic body for a validated OpenAI chat `body`, and the names of params adjusted to fit."""
    adjusted: list[str] = []
    for field, harmless in UNSUPPORTED.items():
        if not harmless(body.get(field)):
            raise TranslationError(f"Anthropic models do not support `{field}`={body[field]!r}.", param=field)
    for field in REPORTED_DROPS:
        if body.get(field) is not None:
            adjusted.append(field)

    out: JSON = {"model": model}
    for source, target in RENAMES.items():
        value = body.get(source)
        if value is None:
            continue
        if source in CONVERT:
            value = CONVERT[source](value)
            if value is None:
                continue
        if source in RANGES:
            low, high = RANGES[source]
            if not low <= value <= high:
                value = min(max(value, low), high)
                adjusted.append(source)
        head, dot, leaf = target.partition(".")
        if dot:
            out.setdefault(head, {})[leaf] = value
        else:
            out[target] = value
    out.setdefault("max_tokens", default_max_tokens)

    system, messages = _messages(body["messages"])
    if "temperature" in out and "top_p" in out:
        # newer Claude models reject both together ("cannot both be specified"): keep temperature
        del out["top_p"]
        adjusted.append("top_p")

    tools, tool_choice = _tools(body)
    _response_format(body.get("response_format"), out, system)
    if system:
        out["system"] = _system_value(system)
    out["messages"] = messages
    if tools:
        out["tools"] = tools
    if tool_choice is not None:
        out["tool_choice"] = tool_choice
    _thinking(body, out, messages, adjusted)
    return out, tuple(dict.fromkeys(adjusted))


# ---- messages ----------------------------------------------------------------------------------------


def _messages(raw: list[JSON]) -> tuple[list[TextBlock], list[MessageParam]]:
    system: list[TextBlock] = []
    turns: list[MessageParam] = []
    call_params: dict[str, str] = {}  # tool id -> where the caller sent it, for error messages
    result_params: dict[str, str] = {}
    for i, message in enumerate(raw):
        role = message["role"]
        where = f"messages[{i}]"
        blocks: list[ContentBlock]
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
            continue
        if role == "user":
            blocks = _user_blocks(message["content"], where)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where, call_params)
        elif role == "tool":
            blocks = [_tool_result(message, where, result_params)]
        else:
            raise TranslationError(
                f"`{role}` messages are deprecated; send `tool` messages for Anthropic models.",
                param=f"{where}.role",
            )
        if not blocks:
            continue  # an empty message: Anthropic rejects it, and it says nothing
        anthropic_role: Literal["user", "assistant"] = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == anthropic_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": anthropic_role, "content": blocks})
    if not turns:
        raise TranslationError("Anthropic needs at least one user or assistant message.", param="messages")
    for turn in turns:
        if turn["role"] == "user":
            # tool results must open the user turn that answers an assistant tool_use turn
            content = turn["content"]
            turn["content"] = [b for b in content if b["type"] == "tool_result"] + [
                b for b in content if b["type"] != "tool_result"
            ]
    _check_tool_rounds(turns, call_params, result_params)
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": FIRST_USER_TEXT}]})
    _trim_prefill(turns)
    return system, turns


def _text_blocks(content: Any, where: str) -> list[TextBlock]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[TextBlock] = []
    for j, part in enumerate(content or ()):
        if part.get("type") != "text":
            raise TranslationError("Only text parts are allowed here.", param=f"{where}.content[{j}].type")
        block = _text_block(part)
        if block is not None:
            blocks.append(block)
    return blocks


def _text_block(part: JSON) -> TextBlock | None:
    text = part.get("text") or ""
    if not text.strip():  # Anthropic: "text content blocks must contain non-whitespace text"
        return None
    block: TextBlock = {"type": "text", "text": text}
    if isinstance(part.get("cache_control"), dict):  # prompt caching hint, as Anthropic clients send it
        block["cache_control"] = part["cache_control"]
    return block


def _user_blocks(content: Any, where: str) -> list[ContentBlock]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[ContentBlock] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        at = f"{where}.content[{j}]"
        if kind == "text":
            text = _text_block(part)
            if text is not None:
                blocks.append(text)
        elif kind == "image_url":
            blocks.append(_image(part["image_url"]["url"], f"{at}.image_url.url"))
        elif kind == "file":
            blocks.append(_document(part["file"], f"{at}.file"))
        else:
            raise TranslationError(f"Anthropic models do not accept `{kind}` content parts.", param=f"{at}.type")
    return blocks


def _data_url(url: str, param: str) -> tuple[str, str]:
    """`data:<mime>[;...];base64,<data>` -> (mime, data)."""
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or "base64" not in params[1:] or not data:
        raise TranslationError("A data URL must look like data:<mime type>;base64,<data>.", param=param)
    mime = params[0].strip().lower()
    return MIME_FIXES.get(mime, mime), data


def _image(url: str, param: str) -> ImageBlock:
    if url.startswith("data:"):
        mime, data = _data_url(url, param)
        if mime not in IMAGE_TYPES:
            raise TranslationError(
                f"Anthropic accepts images of type {', '.join(sorted(IMAGE_TYPES))}, not {mime or 'none'}.",
                param=param,
            )
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError("An image URL must be an http(s) URL or a base64 data URL.", param=param)


def _document(file: JSON, param: str) -> DocumentBlock:
    data_url = file.get("file_data")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise TranslationError(
            "Anthropic models take files inline as `file_data` (a base64 data URL); OpenAI file ids cannot be used.",
            param=param,
        )
    mime, data = _data_url(data_url, f"{param}.file_data")
    if mime != "application/pdf":
        raise TranslationError(f"Anthropic models accept PDF files, not {mime}.", param=f"{param}.file_data")
    block: DocumentBlock = {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    return block


def _tool_id(raw: str) -> str:
    """Anthropic tool ids match ^[a-zA-Z0-9_-]+$; others (e.g. `call:1`) are rewritten the same way every time,
    with a short digest so that two ids differing only in punctuation stay distinct."""
    if TOOL_ID.match(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return re.sub(r"[^a-zA-Z0-9_-]", "_", raw) + "_" + digest


def _assistant_blocks(message: JSON, where: str, call_params: dict[str, str]) -> list[ContentBlock]:
    blocks: list[ContentBlock] = []
    # thinking blocks echoed back (as this gateway returns them) must come first, unchanged
    for block in message.get("thinking_blocks") or ():
        if isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature"):
            blocks.append(
                {"type": "thinking", "thinking": str(block.get("thinking", "")), "signature": str(block["signature"])}
            )
        elif isinstance(block, dict) and block.get("type") == "redacted_thinking" and block.get("data"):
            blocks.append({"type": "redacted_thinking", "data": str(block["data"])})
    content = message.get("content")
    if isinstance(content, str):
        if content.strip():
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for part in content:
            text = _text_block({"text": part.get("refusal") if part.get("type") == "refusal" else part.get("text")})
            if text is not None:
                blocks.append(text)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip() and not content:
        blocks.append({"type": "text", "text": refusal})
    for j, call in enumerate(message.get("tool_calls") or ()):
        param = f"{where}.tool_calls[{j}]"
        function = call["function"]
        blocks.append(
            {
                "type": "tool_use",
                "id": _register(call_params, _tool_id(call["id"]), f"{param}.id"),
                "name": function["name"],
                "input": _arguments(function.get("arguments"), f"{param}.function.arguments"),
            }
        )
    return blocks


def _register(seen: dict[str, str], tool_id: str, param: str) -> str:
    if tool_id in seen:
        raise TranslationError(f"The tool call id {tool_id!r} is used twice.", param=param)
    seen[tool_id] = param
    return tool_id


def _arguments(raw: Any, param: str) -> JSON:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise TranslationError("Tool call arguments must be a JSON object.", param=param) from None
    if not isinstance(value, dict):
        raise TranslationError("Tool call arguments must be a JSON object.", param=param)
    return value


def _tool_result(message: JSON, where: str, result_params: dict[str, str]) -> ToolResultBlock:
    tool_id = _register(result_params, _tool_id(message["tool_call_id"]), f"{where}.tool_call_id")
    block: ToolResultBlock = {"type": "tool_result", "tool_use_id": tool_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        texts = _text_blocks(content, where)
        if texts:
            block["content"] = texts
    return block


def _check_tool_rounds(
    turns: list[MessageParam], call_params: Mapping[str, str], result_params: Mapping[str, str]
) -> None:
    """Every tool_use is answered in the very next user turn, and every tool_result answers the turn before."""
    for index, turn in enumerate(turns):
        ids = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        if turn["role"] == "assistant":
            following = turns[index + 1]["content"] if index + 1 < len(turns) else []
            answered = {b["tool_use_id"] for b in following if b["type"] == "tool_result"}
            for tool_id in ids:
                if tool_id not in answered:
                    raise TranslationError(
                        f"The tool call {tool_id!r} has no `tool` message answering it right after its assistant "
                        "message; Anthropic needs every tool call answered.",
                        param=call_params[tool_id],
                    )
        else:
            before = turns[index - 1] if index > 0 else None
            asked = {b["id"] for b in before["content"] if b["type"] == "tool_use"} if before is not None else set()
            for block in turn["content"]:
                if block["type"] == "tool_result" and block["tool_use_id"] not in asked:
                    tool_id = block["tool_use_id"]
                    raise TranslationError(
                        f"The `tool` message for {tool_id!r} does not answer a tool call of the assistant message "
                        "just before it.",
                        param=result_params[tool_id],
                    )


def _trim_prefill(turns: list[MessageParam]) -> None:
    """A final assistant turn is a prefill; Anthropic rejects one that ends in whitespace."""
    last = turns[-1]
    block = last["content"][-1]
    if last["role"] != "assistant" or block["type"] != "text":
        return
    text = block["text"].rstrip()
    if text != block["text"]:
        last["content"][-1] = {**block, "text": text}


def _system_value(blocks: list[TextBlock]) -> str | list[TextBlock]:
    """A plain string, unless a block carries `cache_control` (then the blocks, to keep it)."""
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


# ---- tools -------------------------------------------------------------------------------------------


def _tools(body: JSON) -> tuple[list[ToolParam], ToolChoice | None]:
    tools: list[ToolParam] = []
    for function in (t["function"] for t in body.get("tools") or ()):
        schema = function.get("parameters")
        if not schema:
            schema = {"type": "object", "properties": {}}
        elif "type" not in schema:
            schema = {"type": "object", **schema}
        tool: ToolParam = {"name": function["name"], "input_schema": schema}
        if function.get("description"):
            tool["description"] = function["description"]
        if function.get("strict") is True:
            tool["strict"] = True
        tools.append(tool)
    names = {t["name"] for t in tools}
    choice = body.get("tool_choice")
    result: ToolChoice | None = None
    if choice is None or choice == "auto":
        result = {"type": "auto"} if choice == "auto" and tools else None
    elif choice == "none":
        result = {"type": "none"} if tools else None
    elif choice == "required":
        result = {"type": "any"}
    elif choice["type"] == "function":
        name = choice["function"]["name"]
        if name not in names:
            raise TranslationError(f"`tool_choice` names {name!r}, which is not in `tools`.", param="tool_choice")
        result = {"type": "tool", "name": name}
    else:  # allowed_tools: offer only those tools
        allowed = choice["allowed_tools"]
        wanted = [t["function"]["name"] for t in allowed["tools"]]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise TranslationError(
                f"`tool_choice` allows {unknown[0]!r}, which is not in `tools`.", param="tool_choice"
            )
        tools = [t for t in tools if t["name"] in wanted]
        result = {"type": "any" if allowed["mode"] == "required" else "auto"}
    if result is not None and result["type"] in ("any", "tool") and not tools:
        raise TranslationError("`tool_choice` requires a tool but `tools` is empty.", param="tool_choice")
    if body.get("parallel_tool_calls") is False and tools:
        if result is None:
            result = {"type": "auto"}
        if result["type"] != "none":
            result["disable_parallel_tool_use"] = True
    return tools, result


# ---- response_format ---------------------------------------------------------------------------------


def _response_format(response_format: Any, out: JSON, system: list[TextBlock]) -> None:
    if not isinstance(response_format, dict):
        return
    kind = response_format.get("type")
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if kind == "json_schema" else None
    if isinstance(schema, dict):
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    elif kind in ("json_object", "json_schema"):
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})


# ---- thinking ----------------------------------------------------------------------------------------


def _thinking(body: JSON, out: JSON, messages: list[MessageParam], adjusted: list[str]) -> None:
    explicit = body.get("thinking")  # Anthropic's own object, sent by clients that know it
    effort = body.get("reasoning_effort")
    budget: int | None
    if isinstance(explicit, dict) and explicit.get("type") == "enabled":
        budget = explicit.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            raise TranslationError(
                f"`thinking.budget_tokens` must be an integer of at least {MIN_THINKING_BUDGET}.",
                param="thinking.budget_tokens",
            )
        source = "thinking"
    elif effort is not None:
        if effort not in THINKING_BUDGETS:
            raise TranslationError(
                f"`reasoning_effort` must be one of {', '.join(THINKING_BUDGETS)}.", param="reasoning_effort"
            )
        budget = THINKING_BUDGETS[effort]
        source = "reasoning_effort"
    else:
        return
    if budget is None:
        return
    max_tokens = out["max_tokens"]
    budget = min(budget, max_tokens - 1)  # Anthropic: budget_tokens < max_tokens
    if budget < MIN_THINKING_BUDGET:
        raise TranslationError(
            f"Reasoning on Anthropic needs more than {MIN_THINKING_BUDGET} output tokens; raise "
            "`max_completion_tokens`.",
            param="max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens",
        )
    if not _can_think(messages):
        adjusted.append(source)
        return
    choice = out.get("tool_choice")
    if choice is not None and choice["type"] in ("any", "tool"):
        raise TranslationError(
            'Anthropic does not allow a forced `tool_choice` while reasoning; use "auto" or no reasoning.',
            param="tool_choice",
        )
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    # Anthropic: with thinking, temperature may only be 1, top_k is not allowed, top_p must be in [0.95, 1]
    for field in ("temperature", "top_k"):
        if field in out:
            del out[field]
            adjusted.append(field)
    if "top_p" in out and out["top_p"] < THINKING_TOP_P_MIN:
        out["top_p"] = THINKING_TOP_P_MIN
        adjusted.append("top_p")


def _can_think(messages: list[MessageParam]) -> bool:
    """Anthropic rejects thinking with an assistant prefill, and mid tool round when the assistant turn that
    asked for the tools does not start with its thinking block (the caller did not echo it back)."""
    last = messages[-1]
    if last["role"] == "assistant":
        return False
    if len(messages) >= 2 and any(b["type"] == "tool_result" for b in last["content"]):
        opener = messages[-2]["content"][0]["type"]
        return opener in ("thinking", "redacted_thinking")
    return True
