from __future__ import annotations

import pytest

from translators.sse import SSEDecoder, SSEEvent, encode_data

STREAM = (
    b": comment\n"
    b'event: message_start\ndata: {"a":1}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"id: 7\nretry: 1500\ndata:no-space\n\n"
    + 'data: {"t":"h\u00e9llo \U0001f600"}\r\n\r\n'.encode()
    + b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(data=b'{"a":1}', event="message_start"),
    SSEEvent(data=b"line one\nline two"),
    SSEEvent(data=b"no-space", id="7", retry=1500),
    SSEEvent(data='{"t":"h\u00e9llo \U0001f600"}'.encode(), id="7"),
    SSEEvent(data=b"[DONE]", id="7"),
]


def feed_in_slices(raw: bytes, size: int) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for start in range(0, len(raw), size):
        events.extend(decoder.feed(raw[start : start + size]))
    return events + decoder.flush()


@pytest.mark.parametrize("size", [len(STREAM), 1, 2, 3, 7, 64])
def test_decoder_same_events_for_any_slicing(size: int) -> None:
    assert feed_in_slices(STREAM, size) == EXPECTED


def test_decoder_crlf_split_between_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(data=b"a")]
    assert decoder.feed(b"\ndata: b\r\r") == [SSEEvent(data=b"b")]


def test_decoder_cr_only_line_endings() -> None:
    assert feed_in_slices(b"data: x\r\rdata: y\r\r", 1) == [SSEEvent(data=b"x"), SSEEvent(data=b"y")]


def test_decoder_flush_dispatches_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"last": true}') == []
    assert decoder.flush() == [SSEEvent(data=b'{"last": true}')]


def test_decoder_event_without_data_is_not_dispatched() -> None:
    assert feed_in_slices(b"event: ping\n\ndata: x\n\n", 5) == [SSEEvent(data=b"x")]


def test_encode_data_frames_payload() -> None:
    assert encode_data(b'{"a":1}') == b'data: {"a":1}\n\n'
