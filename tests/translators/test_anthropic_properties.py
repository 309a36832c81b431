"""Property: any valid OpenAI chat request either becomes a request Anthropic's rules accept, or raises
TranslationError (the gateway's 400). Never another exception, never a request Anthropic would reject."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from translators.anthropic.request import build_request
from translators.errors import TranslationError
from translators.schema import validate_chat

JSON = dict[str, Any]
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
TOOL_NAMES = ("get_weather", "get_time", "search")

texts = st.one_of(st.sampled_from(["", " ", "\n", "hi", "Paris?", "ok "]), st.text(max_size=12))
ids = st.one_of(
    st.sampled_from(["call_1", "call_2", "toolu_01A"]), st.from_regex(r"[a-z:.|_0-9-]{1,10}", fullmatch=True)
)
arguments = st.sampled_from(["", "{}", '{"city":"Paris"}', "[1]", "not json", "null"])


@st.composite
def tool_calls(draw: st.DrawFn) -> list[JSON]:
    return [
        {
            "id": draw(ids),
            "type": "function",
            "function": {"name": draw(st.sampled_from(TOOL_NAMES)), "arguments": draw(arguments)},
        }
        for _ in range(draw(st.integers(1, 3)))
    ]


def text_parts(draw: st.DrawFn) -> list[JSON]:
    return [{"type": "text", "text": draw(texts)} for _ in range(draw(st.integers(1, 3)))]


@st.composite
def message(draw: st.DrawFn, known_ids: list[str]) -> JSON:
    role = draw(st.sampled_from(["system", "developer", *["user"] * 4, *["assistant"] * 3, "tool"]))
    if role in ("system", "developer"):
        return {"role": role, "content": text_parts(draw) if draw(st.booleans()) else draw(texts)}
    if role == "user":
        url = draw(
            st.sampled_from(
                [
                    "data:image/png;base64,AAAA",
                    "https://x.test/a.png",
                    "https://x.test/b.jpg",
                    "data:image/bmp;base64,AA",
                ]
            )
        )
        image = {"type": "image_url", "image_url": {"url": url}}
        shape = draw(st.integers(0, 2))
        content: Any = draw(texts) if shape == 0 else [image] if shape == 1 else [*text_parts(draw), image]
        return {"role": "user", "content": content}
    if role == "assistant":
        msg: JSON = {"role": "assistant", "content": draw(texts)}
        if draw(st.integers(0, 5)) == 0:  # a tool round, usually left unanswered: must raise
            calls = draw(tool_calls())
            known_ids.extend(c["id"] for c in calls)
            msg["tool_calls"] = calls
        return msg
    use_known = bool(known_ids) and draw(st.integers(0, 4)) > 0
    tool_id = draw(st.sampled_from(known_ids)) if use_known else draw(ids)
    return {"role": "tool", "tool_call_id": tool_id, "content": draw(texts)}


@st.composite
def answered_round(draw: st.DrawFn, first: int) -> list[JSON]:
    """An assistant tool round answered properly, so that valid conversations are common, not just errors."""
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": draw(st.sampled_from(TOOL_NAMES)), "arguments": "{}"},
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    results = [{"role": "tool", "tool_call_id": c["id"], "content": draw(texts)} for c in calls]
    return [{"role": "assistant", "content": None, "tool_calls": calls}, *results]


@st.composite
def chat_requests(draw: st.DrawFn) -> JSON:
    known: list[str] = []
    messages: list[JSON] = []
    for turn in range(draw(st.integers(1, 7))):
        if draw(st.integers(0, 3)) == 0:
            messages.extend(draw(answered_round(turn * 10)))
        else:
            messages.append(draw(message(known)))
    body: JSON = {"model": "claude-sonnet-4-5", "messages": messages}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 70000),
        "max_completion_tokens": st.integers(1, 70000),
        "n": st.sampled_from([1, 1, 1, 2]),
        "stop": st.one_of(
            st.sampled_from(["END", "\n", " "]), st.lists(st.sampled_from(["END", "", "###", "\t"]), max_size=3)
        ),
        "seed": st.integers(0, 10),
        "user": st.sampled_from(["u1", "alice"]),
        "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high", "bogus"]),
        "parallel_tool_calls": st.booleans(),
        "tools": st.just([{"type": "function", "function": {"name": n}} for n in TOOL_NAMES]),
        "tool_choice": st.one_of(
            st.sampled_from(["none", "auto", "required"]),
            st.builds(lambda n: {"type": "function", "function": {"name": n}}, st.sampled_from([*TOOL_NAMES, "other"])),
        ),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            ]
        ),
    }
    for field, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            body[field] = draw(strategy)
    return body


def check_anthropic_rules(vendor: JSON) -> None:
    assert isinstance(vendor["max_tokens"], int) and vendor["max_tokens"] >= 1
    turns = vendor["messages"]
    assert turns and turns[0]["role"] == "user"
    for index, turn in enumerate(turns):
        assert turn["role"] in ("user", "assistant")
        if index:
            assert turn["role"] != turns[index - 1]["role"], "roles must alternate"
        assert turn["content"], "no empty messages"
        for block in turn["content"]:
            if block["type"] == "text":
                assert block["text"].strip(), "no empty text blocks"
            if block["type"] == "tool_use":
                assert TOOL_ID.match(block["id"])
                assert isinstance(block["input"], dict)
        if turn["role"] == "assistant":
            asked = {b["id"] for b in turn["content"] if b["type"] == "tool_use"}
            if asked:
                assert index + 1 < len(turns), "every tool_use is answered"
                answered = {b["tool_use_id"] for b in turns[index + 1]["content"] if b["type"] == "tool_result"}
                assert asked <= answered, "every tool_use is answered in the next turn"
        else:
            before = turns[index - 1]["content"] if index else []
            asked = {b["id"] for b in before if b["type"] == "tool_use"}
            kinds = [b["type"] for b in turn["content"]]
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result"), "tool results come first"
            for block in turn["content"]:
                if block["type"] == "tool_result":
                    assert block["tool_use_id"] in asked
    last = turns[-1]
    if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
        assert last["content"][-1]["text"] == last["content"][-1]["text"].rstrip()
    for stop in vendor.get("stop_sequences", ()):
        assert stop.strip()
    assert 0 <= vendor.get("temperature", 0) <= 1
    assert not ("temperature" in vendor and "top_p" in vendor)
    names = {t["name"] for t in vendor.get("tools", ())}
    choice = vendor.get("tool_choice")
    if choice is not None and choice["type"] == "tool":
        assert choice["name"] in names
    if choice is not None and choice["type"] in ("any", "tool"):
        assert names
    thinking = vendor.get("thinking")
    if thinking is not None:
        assert 1024 <= thinking["budget_tokens"] < vendor["max_tokens"]
        assert "temperature" not in vendor and "top_k" not in vendor
        assert choice is None or choice["type"] in ("auto", "none")
        assert last["role"] == "user"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_requests())
def test_build_request_obeys_anthropic_rules_or_raises_translation_error(body: JSON) -> None:
    try:
        validate_chat(body)
    except TranslationError:
        assume(False)  # not a valid OpenAI request: the routes answer 400 before any translator runs
    try:
        vendor, _ = build_request(body, model="claude-sonnet-4-5", default_max_tokens=64000)
    except TranslationError as exc:
        assert exc.message
        return
    check_anthropic_rules(vendor)
