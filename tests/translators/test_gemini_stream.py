"""Gemini SSE -> OpenAI chunks: golden streams fed whole, byte by byte and in 7-byte slices (LF and CRLF)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translators import gemini_golden as golden
from translators.errors import StreamError
from translators.gemini.stream import StreamTranslator
from translators.sse import SSEEvent

JSON = dict[str, Any]
STREAM_CASES = golden.cases("vendor_stream.sse")


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_translator_matches_golden(case: str) -> None:
    chunks = golden.translate_stream(golden.raw(case, "vendor_stream.sse"), slice_size=None, case=case)
    golden.check_lines(case, "openai_stream.jsonl", chunks)


@pytest.mark.parametrize("slice_size", [1, 7])
@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_translator_same_chunks_for_any_slicing(case: str, slice_size: int) -> None:
    data = golden.raw(case, "vendor_stream.sse")
    whole = golden.translate_stream(data, slice_size=None, case=case)
    assert golden.translate_stream(data, slice_size=slice_size, case=case) == whole


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_translator_same_chunks_for_lf_and_crlf(case: str) -> None:
    data = golden.raw(case, "vendor_stream.sse")
    assert b"\r\n" in data  # the fixtures are recorded with Gemini's CRLF line ends
    lf = data.replace(b"\r\n", b"\n")
    whole = golden.translate_stream(data, slice_size=None, case=case)
    assert golden.translate_stream(lf, slice_size=7, case=case) == whole


def translator(include_usage: bool = True) -> StreamTranslator:
    return StreamTranslator(
        completion_id="chatcmpl-x",
        created=1,
        model="gemini-2.5-flash",
        include_usage=include_usage,
        new_tool_call_id=lambda: "call_new",
    )


def event(data: bytes) -> SSEEvent:
    return SSEEvent(data=data)


def test_stream_translator_truncated_stream_raises() -> None:
    t = translator()
    t.feed(event(b'{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}]}'))
    with pytest.raises(StreamError) as info:
        t.finish()
    assert info.value.error.kind == "connection"


def test_stream_translator_empty_stream_raises() -> None:
    with pytest.raises(StreamError):
        translator().finish()


def test_stream_translator_error_event_is_a_stream_error() -> None:
    body = b'{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}'
    with pytest.raises(StreamError) as info:
        translator().feed(event(body))
    assert info.value.error.kind == "rate_limit"
    assert info.value.error.status == 429


def test_stream_translator_non_json_event_is_a_bad_response() -> None:
    with pytest.raises(StreamError) as info:
        translator().feed(event(b"<html>"))
    assert info.value.error.kind == "bad_response"


def test_stream_translator_usage_is_last_value_not_a_sum() -> None:
    t = translator()
    for count in (2, 5, 8):
        t.feed(
            event(
                b'{"candidates":[{"content":{"parts":[{"text":"x"}]},"index":0}],"usageMetadata":'
                b'{"promptTokenCount":3,"candidatesTokenCount":%d}}' % count
            )
        )
    t.feed(event(b'{"candidates":[{"finishReason":"STOP","index":0}]}'))
    last = t.finish()[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 8
    assert last["usage"]["prompt_tokens"] == 3


def test_stream_translator_without_include_usage_sends_no_usage() -> None:
    t = translator(include_usage=False)
    chunks = t.feed(event(b'{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}'))
    chunks += t.finish()
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
