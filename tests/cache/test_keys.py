"""Cache keys: canonical (field order, 0 vs 0.0), only answer-changing fields, resolved targets, scoping."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.cache.keys import cache_key
from gateway.catalog import Catalog
from gateway.types import JSON, CallKind, ChatCall, Principal, Target

GPT = Target("openai", "gpt-4o")
BODY: JSON = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}


def call(body: JSON, *, target: Target = GPT, user: str = "alice", kind: CallKind = "chat", **extra: Any) -> ChatCall:
    return ChatCall(kind=kind, body=body, target=target, principal=Principal(user), request_id="r", **extra)


def test_cache_key_is_readable_provider_model_hash() -> None:
    assert re.fullmatch(r"openai:gpt-4o:[0-9a-f]{32}", cache_key(call(BODY), per_user=True))


def test_cache_key_ignores_field_order_at_every_depth() -> None:
    reordered = {
        "temperature": 0,
        "messages": [{"content": "Hi", "role": "user"}],
        "model": "gpt-4o",
    }
    assert cache_key(call(reordered), per_user=True) == cache_key(call(BODY), per_user=True)


def test_cache_key_treats_integral_floats_like_ints() -> None:
    assert cache_key(call({**BODY, "temperature": 0.0}), per_user=True) == cache_key(call(BODY), per_user=True)


@pytest.mark.parametrize(
    "noise",
    [
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "someone-else"},
        {"metadata": {"trace": "x"}, "store": True},
        {"fallbacks": ["claude-sonnet-4-5"]},
    ],
)
def test_cache_key_ignores_fields_that_do_not_change_the_answer(noise: JSON) -> None:
    assert cache_key(call({**BODY, **noise}), per_user=True) == cache_key(call(BODY), per_user=True)


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "Hi!"}]},
        {"temperature": 0.5},
        {"seed": 7},
        {"max_tokens": 10},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"n": 2},
    ],
)
def test_cache_key_changes_with_fields_that_change_the_answer(change: JSON) -> None:
    assert cache_key(call({**BODY, **change}), per_user=True) != cache_key(call(BODY), per_user=True)


def test_cache_key_uses_the_resolved_target_so_aliases_share_entries() -> None:
    catalog = Catalog.bundled({"my-alias": "openai/gpt-4o"})
    via_alias = call({**BODY, "model": "my-alias"}, target=catalog.resolve("my-alias"))
    direct = call(BODY, target=catalog.resolve("openai/gpt-4o"))
    assert cache_key(via_alias, per_user=True) == cache_key(direct, per_user=True)


def test_cache_key_differs_by_target_and_kind() -> None:
    base = cache_key(call(BODY), per_user=True)
    assert cache_key(call(BODY, target=Target("openai", "gpt-4o-mini")), per_user=True) != base
    assert cache_key(call(BODY, kind="completion"), per_user=True) != base


def test_cache_key_is_per_user_unless_global() -> None:
    alice, bob = call(BODY, user="alice"), call(BODY, user="bob")
    assert cache_key(alice, per_user=True) != cache_key(bob, per_user=True)
    assert cache_key(alice, per_user=False) == cache_key(bob, per_user=False)
