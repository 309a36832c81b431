"""Cache policy: what is deterministic, Cache-Control directives, which answers are stored."""

from __future__ import annotations

import pytest

from gateway.cache.policy import Directives, deterministic, parse_cache_control, storable
from gateway.types import JSON, CallKind, ChatCall, Principal, Target


def call(body: JSON, kind: CallKind = "chat") -> ChatCall:
    return ChatCall(kind=kind, body=body, target=Target("openai", "gpt-4o"), principal=Principal("u"), request_id="r")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0.0}, True),
        ({"seed": 42, "temperature": 0.9}, True),
        ({"seed": 0}, True),
        ({}, False),  # the default temperature is 1
        ({"temperature": 0.2}, False),
        ({"temperature": False}, False),
        ({"seed": None}, False),
    ],
)
def test_policy_deterministic(body: JSON, expected: bool) -> None:
    assert deterministic(call(body)) is expected


def test_policy_embeddings_are_always_deterministic() -> None:
    assert deterministic(call({"input": "x"}, kind="embedding"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Directives()),
        ("no-cache", Directives(no_cache=True)),
        ("No-Store", Directives(no_store=True)),
        ("no-cache, no-store", Directives(no_cache=True, no_store=True)),
        ("max-age=60", Directives(max_age=60)),
        ('max-age="30", private', Directives(max_age=30)),
        ("max-age=abc", Directives()),
        ("max-age=-5", Directives()),
        ("max-age=0", Directives(max_age=0)),
    ],
)
def test_policy_parse_cache_control(header: str | None, expected: Directives) -> None:
    assert parse_cache_control(header) == expected


def _answer(*reasons: object) -> JSON:
    return {"choices": [{"index": i, "finish_reason": r} for i, r in enumerate(reasons)]}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_answer("stop"), True),
        (_answer("tool_calls"), True),
        (_answer("stop", "stop"), True),
        (_answer("length"), False),
        (_answer("content_filter"), False),
        (_answer("stop", "length"), False),
        (_answer(None), False),
        (_answer({"weird": 1}), False),
        ({"choices": []}, False),
        ({"error": {"message": "x"}, "choices": [{"finish_reason": "stop"}]}, False),
    ],
)
def test_policy_stores_only_normal_answers(answer: JSON, expected: bool) -> None:
    assert storable("chat", answer) is expected


def test_policy_stores_embeddings_with_data_only() -> None:
    assert storable("embedding", {"data": [{"embedding": [1.0]}]})
    assert not storable("embedding", {"data": []})
