"""Anthropic SSE -> OpenAI chunks: every golden stream fed whole, byte by byte and in 7-byte slices gives the
same chunks; then the state machine's rules one at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.translators.anthropic_golden import COMPLETION_ID, CREATED, cases, check_lines, load, raw, translate_stream
from translators.anthropic.stream import StreamTranslator
from translators.errors import StreamError
from translators.sse import SSEEvent

JSON = dict[str, Any]
MODEL = "claude-sonnet-4-5"


@pytest.mark.parametrize("case", cases("vendor_stream.sse"))
def test_stream_translator_matches_golden_in_any_slicing(case: str) -> None:
    data = raw(case, "vendor_stream.sse")
    whole = translate_stream(data, slice_size=None, model=MODEL)
    assert translate_stream(data, slice_size=1, model=MODEL) == whole
    assert translate_stream(data, slice_size=7, model=MODEL) == whole
    check_lines(case, "openai_stream.jsonl", whole)


def test_stream_translator_golden_unicode_case_splits_characters_across_slices() -> None:
    data = raw("unicode_split_across_chunks", "vendor_stream.sse")
    # some 7-byte slice starts with a UTF-8 continuation byte: a character really is split
    assert any(data[p] & 0xC0 == 0x80 for p in range(7, len(data), 7))
    chunks = translate_stream(data, slice_size=7, model=MODEL)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == load("unicode_split_across_chunks", "vendor_response.json")["content"][0]["text"]


def event(payload: JSON) -> SSEEvent:
    return SSEEvent(data=json.dumps(payload).encode(), event=str(payload.get("type", "message")))


def translator(include_usage: bool = True) -> StreamTranslator:
    return StreamTranslator(completion_id=COMPLETION_ID, created=CREATED, model=MODEL, include_usage=include_usage)


START = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}


def test_stream_translator_ends_with_finish_and_usage_chunks() -> None:
    t = translator()
    t.feed(event(START))
    t.feed(event({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9}}))
    final, usage = t.feed(event({"type": "message_stop"}))
    assert final["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 9
    assert usage["usage"]["prompt_tokens"] == 5
    assert t.finish() == []


def test_stream_translator_without_include_usage_sends_no_usage() -> None:
    t = translator(include_usage=False)
    chunks = t.feed(event(START)) + t.feed(event({"type": "message_stop"}))
    assert all("usage" not in c for c in chunks)
    assert len(chunks) == 2


def test_stream_translator_replaces_cumulative_output_tokens() -> None:
    t = translator()
    t.feed(event(START))
    t.feed(event({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 4}}))
    t.feed(event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}))
    usage = t.feed(event({"type": "message_stop"}))[-1]["usage"]
    assert usage["completion_tokens"] == 7


def test_stream_translator_ignores_ping_and_unknown_events() -> None:
    t = translator()
    t.feed(event(START))
    assert t.feed(event({"type": "ping"})) == []
    assert t.feed(event({"type": "brand_new_event", "x": 1})) == []


def test_stream_translator_raises_on_a_mid_stream_error_event() -> None:
    t = translator()
    t.feed(event(START))
    with pytest.raises(StreamError) as exc:
        t.feed(event({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}))
    assert exc.value.error.kind == "rate_limit"
    assert exc.value.error.message == "slow down"


def test_stream_translator_finish_raises_when_message_stop_never_came() -> None:
    t = translator()
    t.feed(event(START))
    with pytest.raises(StreamError) as exc:
        t.finish()
    assert exc.value.error.kind == "connection"


def test_stream_translator_rejects_a_frame_that_is_not_json() -> None:
    with pytest.raises(StreamError) as exc:
        translator().feed(SSEEvent(data=b"{not json", event="message_start"))
    assert exc.value.error.kind == "bad_response"


def test_stream_translator_numbers_tool_calls_from_zero_after_text_blocks() -> None:
    t = translator()
    t.feed(event(START))
    t.feed(event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
    header = t.feed(
        event(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}},
            }
        )
    )
    fragment = t.feed(
        event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}})
    )
    assert header[0]["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "toolu_9", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]
    assert fragment[0]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
