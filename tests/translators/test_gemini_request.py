"""OpenAI chat request -> Gemini request: golden fixtures, then the rules one by one."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.translators import gemini_golden as golden
from translators.errors import TranslationError
from translators.gemini.request import (
    BYPASS_SIGNATURE,
    build_request,
    join_signature,
    model_path,
    remote_images,
    split_signature,
)

JSON = dict[str, Any]
MODEL = "gemini-2.5-flash"


@pytest.mark.parametrize("case", golden.cases("openai_request.json"))
def test_build_request_matches_golden(case: str) -> None:
    body, adjusted = build_request(
        golden.load(case, "openai_request.json"), model=golden.model(case), images=golden.images(case)
    )
    assert adjusted == ()
    golden.check(case, "vendor_request.json", body)


def build(messages: list[JSON], **fields: Any) -> JSON:
    body, _ = build_request({"model": MODEL, "messages": messages, **fields}, model=MODEL)
    return body


def user(text: str = "hi") -> JSON:
    return {"role": "user", "content": text}


def call(call_id: str, name: str, arguments: str = "{}") -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_build_request_puts_system_and_developer_into_system_instruction() -> None:
    body = build([{"role": "system", "content": "A"}, user(), {"role": "developer", "content": "B"}])
    assert body["systemInstruction"] == {"parts": [{"text": "A"}, {"text": "B"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_build_request_uses_role_model_and_merges_consecutive_turns() -> None:
    body = build([user("a"), user("b"), {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"}])
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
    ]


def test_build_request_drops_empty_text_and_empty_messages() -> None:
    body = build([user(""), {"role": "assistant", "content": ""}, user("x")])
    assert body["contents"] == [{"role": "user", "parts": [{"text": "x"}]}]


def test_build_request_without_conversation_is_refused() -> None:
    with pytest.raises(TranslationError) as info:
        build([{"role": "system", "content": "only a system prompt"}])
    assert info.value.param == "messages"


def test_build_request_names_function_response_after_the_call() -> None:
    body = build(
        [
            user(),
            {"role": "assistant", "content": None, "tool_calls": [call("c1", "lookup")]},
            {"role": "tool", "tool_call_id": "c1", "content": "plain text"},
        ]
    )
    assert body["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "lookup", "response": {"output": "plain text"}}}],
    }


def test_build_request_sends_object_results_as_the_response() -> None:
    body = build(
        [
            user(),
            {"role": "assistant", "content": None, "tool_calls": [call("c1", "f")]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'},
        ]
    )
    assert body["contents"][2]["parts"][0]["functionResponse"]["response"] == {"ok": True}


def test_build_request_json_array_result_is_wrapped_as_output() -> None:
    body = build(
        [
            user(),
            {"role": "assistant", "content": None, "tool_calls": [call("c1", "f")]},
            {"role": "tool", "tool_call_id": "c1", "content": "[1, 2]"},
        ]
    )
    assert body["contents"][2]["parts"][0]["functionResponse"]["response"] == {"output": "[1, 2]"}


def test_build_request_unknown_tool_call_id_names_the_field() -> None:
    with pytest.raises(TranslationError) as info:
        build([user(), {"role": "tool", "tool_call_id": "nope", "content": "x"}])
    assert info.value.param == "messages[1].tool_call_id"


def test_build_request_unanswered_tool_call_is_refused() -> None:
    with pytest.raises(TranslationError) as info:
        build([user(), {"role": "assistant", "content": None, "tool_calls": [call("c1", "f")]}, user("next")])
    assert info.value.param == "messages[2]"


def test_build_request_invalid_arguments_name_the_field() -> None:
    with pytest.raises(TranslationError) as info:
        build(
            [
                user(),
                {"role": "assistant", "content": None, "tool_calls": [call("c1", "f", "{not json")]},
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ]
        )
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_signature_round_trips_through_the_tool_call_id() -> None:
    signature = "CpwCAb4+9vt/ZGVtbz0xMjM="
    call_id = join_signature("call_1", signature)
    assert all(c.isalnum() or c in "_-" for c in call_id)
    assert split_signature(call_id) == ("call_1", signature)
    assert split_signature("call_plain") == ("call_plain", None)


def test_build_request_restores_signature_from_extra_content() -> None:
    tool_call = {**call("c1", "f"), "extra_content": {"google": {"thought_signature": "c2ln"}}}
    body = build(
        [
            user(),
            {"role": "assistant", "content": None, "tool_calls": [tool_call]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
        ]
    )
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == "c2ln"


def test_build_request_gemini3_gets_placeholder_signature_for_foreign_calls() -> None:
    messages = [
        user(),
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_1", "f"), call("toolu_2", "g")]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "x"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "y"},
    ]
    body, _ = build_request({"model": "gemini-3-pro", "messages": messages}, model="gemini-3-pro")
    parts = body["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == BYPASS_SIGNATURE
    assert "thoughtSignature" not in parts[1]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "g"}}, {"mode": "ANY", "allowedFunctionNames": ["g"]}),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]},
            },
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
        ),
    ],
)
def test_build_request_maps_tool_choice(choice: Any, expected: JSON) -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("f", "g")]
    body = build([user()], tools=tools, tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_build_request_allowed_tools_auto_declares_only_the_allowed() -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("f", "g")]
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "g"}}]},
    }
    body = build([user()], tools=tools, tool_choice=choice)
    assert body["tools"] == [{"functionDeclarations": [{"name": "g"}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_build_request_named_tool_choice_must_exist() -> None:
    with pytest.raises(TranslationError) as info:
        build(
            [user()],
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "zz"}},
        )
    assert info.value.param == "tool_choice"


def test_build_request_required_without_tools_is_refused() -> None:
    with pytest.raises(TranslationError):
        build([user()], tool_choice="required")


def test_build_request_json_object_sets_the_mime_type() -> None:
    body = build([user()], response_format={"type": "json_object"})
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_build_request_recursive_schema_goes_as_json_schema() -> None:
    schema = {"type": "object", "properties": {"child": {"$ref": "#"}}, "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "tree", "schema": schema}}
    config = build([user()], response_format=fmt)["generationConfig"]
    assert "responseSchema" not in config
    assert config["responseJsonSchema"] == schema
    assert config["responseMimeType"] == "application/json"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"n": 3}, {"candidateCount": 3}),
        ({"n": 1}, {}),
        ({"top_k": 40}, {"topK": 40}),
        ({"stop": "END"}, {"stopSequences": ["END"]}),
        ({"max_tokens": 9}, {"maxOutputTokens": 9}),
        ({"max_completion_tokens": 5, "max_tokens": 9}, {"maxOutputTokens": 5}),
        ({"reasoning_effort": "high"}, {"thinkingConfig": {"thinkingBudget": 24576}}),
    ],
)
def test_build_request_generation_config(fields: JSON, expected: JSON) -> None:
    assert build([user()], **fields).get("generationConfig", {}) == expected


def test_build_request_gemini3_reasoning_effort_sets_thinking_level() -> None:
    body, _ = build_request({"messages": [user()], "reasoning_effort": "low"}, model="gemini-3-flash")
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingLevel": "low"}}


def test_build_request_out_of_range_seed_is_adjusted_and_named() -> None:
    body, adjusted = build_request({"messages": [user()], "seed": 2**40 + 5}, model=MODEL)
    assert body["generationConfig"]["seed"] == 5
    assert adjusted == ("seed",)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 9}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"audio": {"voice": "x"}}, "audio"),
        ({"top_k": 0}, "top_k"),
        ({"reasoning_effort": "turbo"}, "reasoning_effort"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
    ],
)
def test_build_request_refuses_what_gemini_cannot_honour(fields: JSON, param: str) -> None:
    with pytest.raises(TranslationError) as info:
        build([user()], **fields)
    assert info.value.param == param


def test_build_request_unfetched_image_url_names_the_field() -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(TranslationError) as info:
        build([{"role": "user", "content": content}])
    assert info.value.param == "messages[0].content[0].image_url.url"


def test_build_request_inlines_fetched_image_bytes() -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    body, _ = build_request(
        {"messages": [{"role": "user", "content": content}]},
        model=MODEL,
        images={"https://example.com/a.png": ("image/png", b"\x89PNG")},
    )
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"\x89PNG").decode()}}
    ]


def test_build_request_decodes_percent_encoded_data_url() -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/svg+xml,%3Csvg%2F%3E"}}]
    part = build([{"role": "user", "content": content}])["contents"][0]["parts"][0]
    assert part == {"inlineData": {"mimeType": "image/svg+xml", "data": base64.b64encode(b"<svg/>").decode()}}


def test_build_request_malformed_data_url_names_the_field() -> None:
    content = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "data:;base64"}}]
    with pytest.raises(TranslationError) as info:
        build([{"role": "user", "content": content}])
    assert info.value.param == "messages[0].content[1].image_url.url"


def test_build_request_audio_and_pdf_become_inline_data() -> None:
    content = [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
    ]
    parts = build([{"role": "user", "content": content}])["contents"][0]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


def test_build_request_file_id_is_refused() -> None:
    content = [{"type": "file", "file": {"file_id": "file-abc"}}]
    with pytest.raises(TranslationError) as info:
        build([{"role": "user", "content": content}])
    assert info.value.param == "messages[0].content[0].file"


def test_remote_images_lists_only_urls_the_gateway_must_fetch() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    {"type": "image_url", "image_url": {"url": "http://example.com/x.jpg"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/f"},
                    },
                ],
            },
        ]
    }
    assert remote_images(body) == [("messages[1].content[1].image_url.url", "http://example.com/x.jpg")]


@pytest.mark.parametrize("name", ["../files", "gemini?key=1", "a/b", "a:b", "", "models/.."])
def test_model_path_refuses_names_that_change_the_path(name: str) -> None:
    with pytest.raises(TranslationError):
        model_path(name)


def test_model_path_accepts_prefixed_and_dotted_names() -> None:
    assert model_path("models/gemini-2.5-flash") == "models/gemini-2.5-flash"
