"""OpenAI chat request -> Anthropic Messages request: the golden cases, then each rule on its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translators.anthropic_golden import DEFAULT_MAX_TOKENS, cases, check, load
from translators.anthropic.request import FIRST_USER_TEXT, JSON_OBJECT_INSTRUCTION, build_request
from translators.errors import TranslationError
from translators.schema import validate_chat

JSON = dict[str, Any]
MODEL = "claude-sonnet-4-5"

# params each golden case must report as adjusted (x-gateway-adjusted)
ADJUSTED: dict[str, tuple[str, ...]] = {"system_and_multi_turn": ("temperature", "top_p"), "thinking": ("temperature",)}


def build(body: JSON, *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[JSON, tuple[str, ...]]:
    body = {"model": MODEL, **body}
    validate_chat(body)  # the routes validate before any translator runs
    return build_request(body, model=MODEL, default_max_tokens=default_max_tokens)


def user(text: str) -> JSON:
    return {"role": "user", "content": text}


@pytest.mark.parametrize("case", cases("openai_request.json"))
def test_build_request_matches_golden(case: str) -> None:
    body = load(case, "openai_request.json")
    validate_chat(body)
    vendor, adjusted = build_request(body, model=body["model"], default_max_tokens=DEFAULT_MAX_TOKENS)
    check(case, "vendor_request.json", vendor)
    assert adjusted == ADJUSTED.get(case, ())


def test_build_request_does_not_mutate_the_callers_body() -> None:
    body = load("tool_result_roundtrip", "openai_request.json")
    before = repr(body)
    build_request(body, model=MODEL, default_max_tokens=DEFAULT_MAX_TOKENS)
    assert repr(body) == before


# ---- simple fields -------------------------------------------------------------------------------------


def test_build_request_uses_default_max_tokens_when_absent() -> None:
    vendor, _ = build({"messages": [user("hi")]}, default_max_tokens=8192)
    assert vendor["max_tokens"] == 8192


def test_build_request_prefers_max_completion_tokens_over_max_tokens() -> None:
    vendor, _ = build({"messages": [user("hi")], "max_tokens": 100, "max_completion_tokens": 200})
    assert vendor["max_tokens"] == 200


def test_build_request_adjusts_temperature_above_one_and_reports_it() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "temperature": 1.7})
    assert vendor["temperature"] == 1.0
    assert adjusted == ("temperature",)


def test_build_request_keeps_temperature_in_range_unreported() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "temperature": 0.3})
    assert vendor["temperature"] == 0.3
    assert adjusted == ()


def test_build_request_drops_top_p_when_temperature_is_set_and_reports_it() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "temperature": 0.5, "top_p": 0.8})
    assert "top_p" not in vendor
    assert adjusted == ("top_p",)


def test_build_request_passes_top_p_alone() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "top_p": 0.8})
    assert vendor["top_p"] == 0.8
    assert adjusted == ()


@pytest.mark.parametrize("stop", ["\n", [" ", "END"], ["END", ""]])
def test_build_request_rejects_whitespace_stop_sequences(stop: Any) -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], "stop": stop})
    assert exc.value.param == "stop"


def test_build_request_wraps_a_string_stop() -> None:
    vendor, _ = build({"messages": [user("hi")], "stop": "END"})
    assert vendor["stop_sequences"] == ["END"]


def test_build_request_maps_user_to_metadata_user_id() -> None:
    vendor, _ = build({"messages": [user("hi")], "user": "u-7"})
    assert vendor["metadata"] == {"user_id": "u-7"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2), ("logprobs", True), ("presence_penalty", 0.5), ("frequency_penalty", -1), ("logit_bias", {"1": 5})],
)
def test_build_request_rejects_what_anthropic_cannot_honour(field: str, value: Any) -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], field: value})
    assert exc.value.param == field


@pytest.mark.parametrize(("field", "value"), [("n", 1), ("logprobs", False), ("presence_penalty", 0)])
def test_build_request_accepts_neutral_values_of_unsupported_fields(field: str, value: Any) -> None:
    vendor, adjusted = build({"messages": [user("hi")], field: value})
    assert field not in vendor
    assert adjusted == ()


def test_build_request_drops_seed_and_reports_it() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "seed": 7})
    assert "seed" not in vendor
    assert adjusted == ("seed",)


def test_build_request_omits_gateway_and_openai_only_fields() -> None:
    body = {"messages": [user("hi")], "stream": True, "stream_options": {"include_usage": True}, "fallbacks": []}
    vendor, _ = build(body)
    assert set(vendor) == {"model", "max_tokens", "messages", "stream"}


# ---- messages --------------------------------------------------------------------------------------------


def test_build_request_hoists_system_and_developer_in_order() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "A."},
            user("hi"),
            {"role": "developer", "content": [{"type": "text", "text": "B."}]},
        ]
    }
    vendor, _ = build(body)
    assert vendor["system"] == "A.\n\nB."
    assert all(m["role"] != "system" for m in vendor["messages"])


def test_build_request_keeps_system_blocks_with_cache_control() -> None:
    part = {"type": "text", "text": "Long context.", "cache_control": {"type": "ephemeral"}}
    vendor, _ = build({"messages": [{"role": "system", "content": [part]}, user("hi")]})
    assert vendor["system"] == [part]


def test_build_request_merges_consecutive_same_role_messages() -> None:
    vendor, _ = build({"messages": [user("a"), user("b"), {"role": "assistant", "content": "c"}, user("d")]})
    assert [m["role"] for m in vendor["messages"]] == ["user", "assistant", "user"]
    assert vendor["messages"][0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]


def test_build_request_opens_with_a_user_turn_before_an_assistant_greeting() -> None:
    vendor, _ = build({"messages": [{"role": "assistant", "content": "Hello, how can I help?"}, user("hi")]})
    assert vendor["messages"][0] == {"role": "user", "content": [{"type": "text", "text": FIRST_USER_TEXT}]}
    assert [m["role"] for m in vendor["messages"]] == ["user", "assistant", "user"]


def test_build_request_drops_empty_messages_and_remerges() -> None:
    vendor, _ = build({"messages": [user("a"), {"role": "assistant", "content": "  "}, user("b")]})
    assert vendor["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_build_request_rejects_a_system_only_conversation() -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [{"role": "system", "content": "Be nice."}]})
    assert exc.value.param == "messages"


def test_build_request_trims_trailing_whitespace_of_a_prefill() -> None:
    vendor, _ = build({"messages": [user("hi"), {"role": "assistant", "content": "Sure: "}]})
    assert vendor["messages"][-1]["content"] == [{"type": "text", "text": "Sure:"}]


def test_build_request_puts_tool_results_first_in_their_user_turn() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "messages": [
            user("go"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            user("also this"),
            {"role": "tool", "tool_call_id": "toolu_1", "content": "done"},
        ]
    }
    vendor, _ = build(body)
    assert [b["type"] for b in vendor["messages"][2]["content"]] == ["tool_result", "text"]


def test_build_request_rejects_an_unanswered_tool_call() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("go"), {"role": "assistant", "tool_calls": [call]}, user("next")]})
    assert exc.value.param == "messages[1].tool_calls[0].id"


def test_build_request_rejects_a_tool_message_answering_nothing() -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("go"), {"role": "tool", "tool_call_id": "nope", "content": "x"}]})
    assert exc.value.param == "messages[1].tool_call_id"


def test_build_request_rejects_tool_arguments_that_are_not_an_object() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "[1, 2"}}
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("go"), {"role": "assistant", "tool_calls": [call]}]})
    assert exc.value.param == "messages[1].tool_calls[0].function.arguments"


def test_build_request_rewrites_tool_ids_anthropic_rejects_consistently() -> None:
    vendor, _ = build(load("tool_result_roundtrip", "openai_request.json"))
    tool_use = vendor["messages"][1]["content"][0]
    tool_result = vendor["messages"][2]["content"][0]
    assert tool_use["id"] == tool_result["tool_use_id"]
    assert tool_use["id"].startswith("call_weather_1_")


def test_build_request_maps_image_data_url_to_base64_source() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,AAAA"}}
    vendor, _ = build({"messages": [{"role": "user", "content": [part]}]})
    assert vendor["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}
    ]


@pytest.mark.parametrize("url", ["data:image/tiff;base64,AAAA", "data:image/png,raw", "ftp://example.com/a.png"])
def test_build_request_rejects_images_anthropic_cannot_take(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(TranslationError) as exc:
        build({"messages": [{"role": "user", "content": [part]}]})
    assert exc.value.param == "messages[0].content[0].image_url.url"


def test_build_request_maps_a_pdf_file_to_a_document() -> None:
    part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}}
    vendor, _ = build({"messages": [{"role": "user", "content": [part]}]})
    assert vendor["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
            "title": "a.pdf",
        }
    ]


def test_build_request_rejects_audio_parts() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(TranslationError) as exc:
        build({"messages": [{"role": "user", "content": [part]}]})
    assert exc.value.param == "messages[0].content[0].type"


# ---- tools and tool_choice ---------------------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "b"}},
]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "b"}}, {"type": "tool", "name": "b"}),
    ],
)
def test_build_request_maps_tool_choice(choice: Any, expected: JSON) -> None:
    vendor, _ = build({"messages": [user("hi")], "tools": TOOLS, "tool_choice": choice})
    assert vendor["tool_choice"] == expected


def test_build_request_gives_parameterless_tools_an_empty_object_schema() -> None:
    vendor, _ = build({"messages": [user("hi")], "tools": TOOLS})
    assert vendor["tools"][1] == {"name": "b", "input_schema": {"type": "object", "properties": {}}}


def test_build_request_filters_tools_for_allowed_tools() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "a"}}]},
    }
    vendor, _ = build({"messages": [user("hi")], "tools": TOOLS, "tool_choice": choice})
    assert [t["name"] for t in vendor["tools"]] == ["a"]
    assert vendor["tool_choice"] == {"type": "any"}


def test_build_request_maps_parallel_tool_calls_false() -> None:
    vendor, _ = build({"messages": [user("hi")], "tools": TOOLS, "parallel_tool_calls": False})
    assert vendor["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_build_request_rejects_a_named_tool_that_is_not_offered() -> None:
    choice = {"type": "function", "function": {"name": "zzz"}}
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], "tools": TOOLS, "tool_choice": choice})
    assert exc.value.param == "tool_choice"


def test_build_request_rejects_required_tool_choice_without_tools() -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], "tool_choice": "required"})
    assert exc.value.param == "tool_choice"


# ---- response_format and thinking ---------------------------------------------------------------------------


def test_build_request_asks_for_json_object_in_the_system_prompt() -> None:
    vendor, _ = build({"messages": [user("hi")], "response_format": {"type": "json_object"}})
    assert vendor["system"] == JSON_OBJECT_INSTRUCTION
    assert "output_config" not in vendor


def test_build_request_maps_reasoning_effort_to_a_thinking_budget_below_max_tokens() -> None:
    vendor, _ = build({"messages": [user("hi")], "reasoning_effort": "high", "max_completion_tokens": 5000})
    assert vendor["thinking"] == {"type": "enabled", "budget_tokens": 4999}


def test_build_request_leaves_thinking_off_for_reasoning_effort_minimal() -> None:
    vendor, adjusted = build({"messages": [user("hi")], "reasoning_effort": "minimal"})
    assert "thinking" not in vendor
    assert adjusted == ()


def test_build_request_rejects_reasoning_with_too_few_output_tokens() -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], "reasoning_effort": "low", "max_tokens": 1000})
    assert exc.value.param == "max_tokens"


def test_build_request_rejects_forced_tool_choice_while_reasoning() -> None:
    with pytest.raises(TranslationError) as exc:
        build({"messages": [user("hi")], "reasoning_effort": "low", "tools": TOOLS, "tool_choice": "required"})
    assert exc.value.param == "tool_choice"


def test_build_request_reports_thinking_left_off_for_a_tool_round_without_thinking_blocks() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}}
    body = {
        "messages": [
            user("go"),
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
        ],
        "tools": TOOLS,
        "reasoning_effort": "low",
    }
    vendor, adjusted = build(body)
    assert "thinking" not in vendor
    assert adjusted == ("reasoning_effort",)


def test_build_request_echoes_thinking_blocks_first_in_a_tool_round() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}}
    thought = {"index": 0, "type": "thinking", "thinking": "hmm", "signature": "sig"}
    body = {
        "messages": [
            user("go"),
            {"role": "assistant", "content": None, "tool_calls": [call], "thinking_blocks": [thought]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
        ],
        "tools": TOOLS,
        "reasoning_effort": "low",
    }
    vendor, adjusted = build(body)
    assert vendor["messages"][1]["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    assert vendor["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert adjusted == ()
