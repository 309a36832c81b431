"""Streams folded into answers and answers replayed as streams: both directions keep the answer."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache.replay import Assembler, ReplayStream, replay_chunks
from gateway.types import JSON

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o"}
USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def chunk(delta: JSON | None = None, finish: str | None = None, *, index: int = 0, **extra: Any) -> JSON:
    choices = [] if delta is None else [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {**HEAD, "choices": choices, "usage": None, **extra}


TOOL_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk(
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": ""}}]}
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({}, "tool_calls"),
    chunk(None, usage=USAGE),
]


def assemble(chunks: list[JSON], kind: Any = "chat") -> JSON | None:
    assembler = Assembler(kind)
    for data in chunks:
        assembler.feed(data)
    return assembler.result()


def test_assembler_folds_text_chunks_into_a_chat_completion() -> None:
    answer = assemble(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            chunk(None, usage=USAGE),
        ]
    )
    assert answer == {
        "id": "chatcmpl-1",
        "created": 7,
        "model": "gpt-4o",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def test_assembler_joins_tool_call_arguments() -> None:
    answer = assemble(TOOL_STREAM)
    assert answer is not None
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"city":"Paris"}'}}
    ]


def test_assembler_keeps_choices_apart_by_index() -> None:
    answer = assemble(
        [
            chunk({"content": "a"}, index=0),
            chunk({"content": "b"}, index=1),
            chunk({}, "stop", index=1),
            chunk({}, "stop", index=0),
        ]
    )
    assert answer is not None
    assert [c["message"]["content"] for c in answer["choices"]] == ["a", "b"]


def test_assembler_gives_up_on_deltas_it_cannot_represent() -> None:
    assert assemble([chunk({"audio": {"data": "..."}}), chunk({}, "stop")]) is None


def test_assembler_folds_text_completion_chunks() -> None:
    head = {"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "gpt-3.5-turbo-instruct"}
    answer = assemble(
        [
            {**head, "choices": [{"text": " Par", "index": 0, "logprobs": None, "finish_reason": None}]},
            {**head, "choices": [{"text": "is.", "index": 0, "logprobs": None, "finish_reason": "stop"}]},
        ],
        kind="completion",
    )
    assert answer is not None and answer["object"] == "text_completion"
    assert answer["choices"] == [{"text": " Paris.", "index": 0, "logprobs": None, "finish_reason": "stop"}]


@pytest.mark.anyio
async def test_replay_chunks_reassemble_to_the_same_answer() -> None:
    answer = assemble(TOOL_STREAM)
    assert answer is not None
    replayed = [c.data async for c in ReplayStream(replay_chunks("chat", answer) or [])]
    assert replayed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert replayed[-1] == {**HEAD, "choices": [], "usage": USAGE}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in replayed)
    assert assemble(replayed) == answer


def test_replay_chunks_refuse_answers_with_parts_a_stream_would_lose() -> None:
    answer = {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "x", "audio": {"id": "a"}},
                "finish_reason": "stop",
            }
        ],
    }
    assert replay_chunks("chat", answer) is None


def test_replay_text_completion_chunks() -> None:
    answer = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 7,
        "model": "m",
        "choices": [{"text": "Hi", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    chunks = [c.data for c in replay_chunks("completion", answer) or []]
    assert [c["choices"][0]["text"] for c in chunks[:-1]] == ["Hi", ""]
    assert chunks[1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"] == USAGE
    assert assemble(chunks, kind="completion") == answer
