"""Gemini answer -> OpenAI chat.completion: golden fixtures, then finish reasons, usage and odd shapes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translators import gemini_golden as golden
from translators.gemini.response import count_tool_calls, finish_reason, parse_response, usage

JSON = dict[str, Any]


@pytest.mark.parametrize("case", [c for c in golden.cases("vendor_response.json") if "status" not in golden.meta(c)])
def test_parse_response_matches_golden(case: str) -> None:
    body = golden.load(case, "vendor_response.json")
    ids = golden.tool_call_ids(case)
    assert count_tool_calls(body) == len(ids)
    answer = parse_response(
        body, completion_id=golden.COMPLETION_ID, created=golden.CREATED, model=golden.model(case), tool_call_ids=ids
    )
    golden.check(case, "openai_response.json", answer)


def parse(body: JSON, ids: tuple[str, ...] = ()) -> JSON:
    return parse_response(body, completion_id="chatcmpl-x", created=1, model="gemini-2.5-flash", tool_call_ids=ids)


@pytest.mark.parametrize(
    ("reason", "called", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
        ("OTHER", False, "stop"),
        (None, False, "stop"),
    ],
)
def test_finish_reason_maps_gemini_reasons(reason: str | None, called: bool, expected: str) -> None:
    assert finish_reason(reason, called=called) == expected


def test_parse_response_output_blocked_by_safety_has_no_parts() -> None:
    answer = parse({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": []}]})
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": "content_filter",
        }
    ]


def test_parse_response_thinking_model_out_of_tokens_gives_empty_length() -> None:
    body = {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}], "usageMetadata": {}}
    choice = parse(body)["choices"][0]
    assert choice["message"]["content"] == ""
    assert choice["finish_reason"] == "length"


def test_parse_response_keeps_gemini_call_id_when_present() -> None:
    part = {"functionCall": {"id": "gem-1", "name": "f", "args": {}}}
    body = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}]}
    calls = parse(body, ("call_generated",))["choices"][0]["message"]["tool_calls"]
    assert calls[0]["id"] == "gem-1"


def test_parse_response_without_candidates_or_block_is_a_bad_answer() -> None:
    with pytest.raises(ValueError, match="neither candidates"):
        parse({"usageMetadata": {"promptTokenCount": 1}})


def test_parse_response_rejects_non_list_candidates() -> None:
    with pytest.raises(ValueError, match="candidates"):
        parse({"candidates": {"index": 0}})


def test_usage_counts_thoughts_as_completion_and_tool_prompt_as_prompt() -> None:
    meta = {
        "promptTokenCount": 100,
        "toolUsePromptTokenCount": 5,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 64,
    }
    assert usage(meta) == {
        "prompt_tokens": 105,
        "completion_tokens": 50,
        "total_tokens": 155,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_usage_missing_counts_are_zero() -> None:
    assert usage(None)["total_tokens"] == 0
