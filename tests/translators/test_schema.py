from __future__ import annotations

from typing import Any

import pytest

from translators.errors import TranslationError
from translators.schema import validate_chat, validate_completion, validate_embedding

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"messages": USER}, "model", "Field required"),
        ({"model": "gpt-4o"}, "messages", "Field required"),
        ({"model": "gpt-4o", "messages": []}, "messages", "at least 1"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages", "valid list"),
        ({"model": 5, "messages": USER}, "model", "valid string"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "'wizard'"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "Field required"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "valid string"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
            "required",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "nope"}]}]},
            "messages[0].content[0].type",
            "'nope'",
        ),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "required"),
        ({"model": "m", "messages": [{"role": "assistant"}]}, "messages[0]", "content"),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "temperature", "number"),
        ({"model": "m", "messages": USER, "temperature": 2.5}, "temperature", "less than or equal to 2"),
        ({"model": "m", "messages": USER, "n": 0}, "n", "greater than or equal to 1"),
        ({"model": "m", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"model": "m", "messages": USER, "tool_choice": "sometimes"}, "tool_choice", "'none', 'auto' or 'required'"),
        (
            {"model": "m", "messages": USER, "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "tools[0].function.name",
            "pattern",
        ),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "required",
        ),
        ({"model": "m", "messages": USER, "stream_options": {"include_usage": True}}, "stream_options", "stream"),
        ({"model": "m", "messages": USER, "stream": False, "stream_options": {}}, "stream_options", "stream"),
    ],
)
def test_validate_chat_names_the_bad_field(body: dict[str, Any], param: str | None, fragment: str) -> None:
    with pytest.raises(TranslationError) as caught:
        validate_chat(body)
    assert caught.value.param == param
    assert fragment in caught.value.message


def test_validate_chat_keeps_unknown_fields() -> None:
    request = validate_chat(
        {"model": "m", "messages": [{"role": "user", "content": "x", "extra": 1}], "metadata": {"k": "v"}}
    )
    assert request.model_extra == {"metadata": {"k": "v"}}


def test_validate_chat_accepts_full_featured_request() -> None:
    request = validate_chat(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert request.stream is True


def test_validate_completion_rejects_empty_prompt_list() -> None:
    with pytest.raises(TranslationError) as caught:
        validate_completion({"model": "m", "prompt": []})
    assert caught.value.param == "prompt"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": ""}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_validate_embedding_names_the_bad_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(TranslationError) as caught:
        validate_embedding(body)
    assert caught.value.param == param
