"""Legacy `/v1/completions` served through chat (wire-formats §6.11).

Chat-only models answer legacy completion requests: the prompt becomes one user message, and the chat
answer (or each chat chunk) is reshaped as `text_completion`. Fields chat cannot honour are a 400.
"""

from __future__ import annotations

from typing import Any

from translators.errors import TranslationError

JSON = dict[str, Any]

LEGACY_DEFAULT_MAX_TOKENS = 16  # the OpenAI default for /v1/completions
_CARRIED = (
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "logit_bias",
    "stream",
    "stream_options",
)


def chat_body(body: JSON) -> JSON:
    """A completion request -> an equivalent chat request (one prompt; lists are split by the caller)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise TranslationError(
                "This model serves completions through chat: `prompt` must be one string", param="prompt"
            )
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise TranslationError("`prompt` must be a string for this model", param="prompt")
    for unsupported in ("suffix", "logprobs"):
        if body.get(unsupported) is not None:
            raise TranslationError(f"`{unsupported}` is not supported by chat models", param=unsupported)
    if (body.get("best_of") or 1) > 1:
        raise TranslationError("`best_of` is not supported by chat models", param="best_of")
    chat: JSON = {k: body[k] for k in _CARRIED if k in body}
    chat["model"] = body["model"]
    chat["messages"] = [{"role": "user", "content": prompt}]
    chat["max_tokens"] = body.get("max_tokens") or LEGACY_DEFAULT_MAX_TOKENS
    return chat


def _text(message: JSON) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def completion_response(chat: JSON, *, prompt: str = "", echo: bool = False) -> JSON:
    """A chat.completion -> a text_completion with the same id, model, usage and finish reasons."""
    choices = []
    for choice in chat.get("choices", []):
        text = _text(choice.get("message") or {})
        finish = choice.get("finish_reason")
        choices.append(
            {
                "text": prompt + text if echo else text,
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": "stop" if finish == "tool_calls" else finish,
            }
        )
    out: JSON = {
        "id": _completion_id(chat.get("id", "")),
        "object": "text_completion",
        "created": chat.get("created", 0),
        "model": chat.get("model", ""),
        "system_fingerprint": chat.get("system_fingerprint"),
        "choices": choices,
    }
    if chat.get("usage") is not None:
        out["usage"] = chat["usage"]
    return out


def completion_chunk(chunk: JSON) -> JSON | None:
    """A chat.completion.chunk -> a text_completion chunk; None for chunks with nothing to say (role only)."""
    choices = []
    for choice in chunk.get("choices", []):
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        finish = choice.get("finish_reason")
        if not text and finish is None:
            continue
        choices.append(
            {
                "text": text,
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": "stop" if finish == "tool_calls" else finish,
            }
        )
    usage = chunk.get("usage")
    if not choices and not usage:
        return None
    out: JSON = {
        "id": _completion_id(chunk.get("id", "")),
        "object": "text_completion",
        "created": chunk.get("created", 0),
        "model": chunk.get("model", ""),
        "choices": choices,
    }
    if usage:
        out["usage"] = usage
    return out


def _completion_id(chat_id: str) -> str:
    return "cmpl-" + chat_id.removeprefix("chatcmpl-") if chat_id else "cmpl-"
