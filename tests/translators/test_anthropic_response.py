"""Anthropic Message -> OpenAI chat.completion: the golden cases, then finish reasons, usage and edge shapes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translators.anthropic_golden import COMPLETION_ID, CREATED, cases, check, load
from translators.anthropic.response import parse_models, parse_response

JSON = dict[str, Any]
MODEL = "claude-sonnet-4-5"


def parse(body: JSON) -> JSON:
    return parse_response(body, completion_id=COMPLETION_ID, created=CREATED, model=MODEL)


def message(content: list[JSON], stop_reason: str | None = "end_turn", usage: JSON | None = None) -> JSON:
    return {"type": "message", "content": content, "stop_reason": stop_reason, "usage": usage or {}}


@pytest.mark.parametrize("case", cases("vendor_response.json"))
def test_parse_response_matches_golden(case: str) -> None:
    answer = parse(load(case, "vendor_response.json"))
    check(case, "openai_response.json", answer)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_parse_response_maps_stop_reason(stop_reason: str | None, finish: str) -> None:
    answer = parse(message([{"type": "text", "text": "x"}], stop_reason))
    assert answer["choices"][0]["finish_reason"] == finish


def test_parse_response_counts_cache_reads_and_writes_in_prompt_tokens() -> None:
    usage = {"input_tokens": 10, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 30, "output_tokens": 5}
    answer = parse(message([{"type": "text", "text": "x"}], usage=usage))
    assert answer["usage"] == {
        "prompt_tokens": 240,
        "completion_tokens": 5,
        "total_tokens": 245,
        "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 30},
    }


def test_parse_response_treats_missing_and_null_usage_counts_as_zero() -> None:
    usage = {"input_tokens": 3, "cache_read_input_tokens": None}
    answer = parse(message([{"type": "text", "text": "x"}], usage=usage))
    assert answer["usage"]["prompt_tokens"] == 3
    assert answer["usage"]["completion_tokens"] == 0


def test_parse_response_gives_empty_string_content_for_an_empty_answer() -> None:
    answer = parse(message([]))
    assert answer["choices"][0]["message"]["content"] == ""


def test_parse_response_joins_text_blocks_around_tool_calls() -> None:
    content: list[JSON] = [
        {"type": "text", "text": "A"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        {"type": "text", "text": "B"},
    ]
    answer = parse(message(content, "tool_use"))
    msg = answer["choices"][0]["message"]
    assert msg["content"] == "AB"
    assert msg["tool_calls"] == [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]


def test_parse_response_exposes_redacted_thinking_without_text() -> None:
    answer = parse(message([{"type": "redacted_thinking", "data": "EmwK"}, {"type": "text", "text": "ok"}]))
    msg = answer["choices"][0]["message"]
    assert msg["reasoning_content"] == ""
    assert msg["thinking_blocks"] == [{"index": 0, "type": "redacted_thinking", "data": "EmwK"}]


def test_parse_response_omits_reasoning_keys_without_thinking() -> None:
    msg = parse(message([{"type": "text", "text": "ok"}]))["choices"][0]["message"]
    assert "reasoning_content" not in msg
    assert "thinking_blocks" not in msg


@pytest.mark.parametrize("body", [{"type": "error"}, {"content": "text"}, {"type": "message"}])
def test_parse_response_rejects_a_body_that_is_not_a_message(body: JSON) -> None:
    with pytest.raises(ValueError, match="not an Anthropic message"):
        parse(body)


def test_parse_models_maps_created_at_to_unix_seconds() -> None:
    page = {
        "data": [
            {"type": "model", "id": "claude-sonnet-4-5-20250929", "created_at": "2025-09-29T00:00:00Z"},
            {"type": "model", "id": "claude-x", "created_at": "not a date"},
            {"type": "model"},
        ],
        "has_more": False,
    }
    assert parse_models(page) == [
        {"id": "claude-sonnet-4-5-20250929", "object": "model", "created": 1759104000, "owned_by": "anthropic"},
        {"id": "claude-x", "object": "model", "created": 0, "owned_by": "anthropic"},
    ]
