"""Property: any valid OpenAI chat request either becomes a request Gemini's rules accept, or is refused with the
gateway's own TranslationError (a 400 naming the field). Nothing else: no other exception, no invalid request."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tests.fakes.gemini_rules import problems
from translators.errors import TranslationError
from translators.gemini.request import build_request
from translators.schema import validate_chat

JSON = dict[str, Any]
NAMES = ("get_weather", "lookup", "search_docs", "f")
IMAGE_URL = "https://images.example.com/a.png"
IMAGES = {IMAGE_URL: ("image/png", b"\x89PNG\r\n")}

texts = st.text(min_size=0, max_size=12)
scalar_types = st.sampled_from(["string", "integer", "number", "boolean", "null"])


def leaf_schemas() -> st.SearchStrategy[JSON]:
    return st.one_of(
        st.builds(lambda t: {"type": t}, scalar_types),
        st.builds(lambda t: {"type": [t, "null"]}, scalar_types),
        st.builds(lambda v: {"const": v}, st.one_of(st.text(max_size=4), st.integers(), st.booleans())),
        st.builds(
            lambda vs: {"enum": vs}, st.lists(st.one_of(st.text(max_size=4), st.integers()), min_size=1, max_size=3)
        ),
        st.builds(lambda f: {"type": "string", "format": f}, st.sampled_from(["email", "date-time", "uri", "enum"])),
        st.just({"$ref": "#/$defs/Leaf"}),
        st.just({"$ref": "#"}),
        st.just({}),
    )


def schemas() -> st.SearchStrategy[JSON]:
    def extend(children: st.SearchStrategy[JSON]) -> st.SearchStrategy[JSON]:
        props = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), children, max_size=3)
        return st.one_of(
            st.builds(
                lambda p, req, extra: {
                    "type": "object",
                    "properties": p,
                    "required": req,
                    "additionalProperties": extra,
                },
                props,
                st.lists(st.sampled_from(["a", "b", "x"]), max_size=2),
                st.booleans(),
            ),
            st.builds(lambda i: {"type": "array", "items": i, "uniqueItems": True}, children),
            st.builds(lambda bs: {"anyOf": bs}, st.lists(children, min_size=1, max_size=3)),
            st.builds(lambda bs: {"oneOf": bs}, st.lists(children, min_size=1, max_size=2)),
            st.builds(lambda bs: {"allOf": bs}, st.lists(children, min_size=1, max_size=2)),
        )

    body = st.recursive(leaf_schemas(), extend, max_leaves=8)
    return st.builds(lambda s: {**s, "$defs": {"Leaf": {"type": "string"}}}, body)


@st.composite
def user_message(draw: st.DrawFn) -> JSON:
    if draw(st.booleans()):
        return {"role": "user", "content": draw(texts)}
    parts = draw(
        st.lists(
            st.one_of(
                st.builds(lambda t: {"type": "text", "text": t}, texts),
                st.just({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}),
                st.just({"type": "image_url", "image_url": {"url": IMAGE_URL}}),
                st.just({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {"role": "user", "content": parts}


@st.composite
def tool_exchange(draw: st.DrawFn, counter: list[int]) -> list[JSON]:
    """An assistant turn with tool calls and (usually) a tool message answering each, in any order."""
    count = draw(st.integers(min_value=1, max_value=3))
    calls = []
    for _ in range(count):
        counter[0] += 1
        arguments = draw(st.sampled_from(['{"city": "Paris"}', "{}", ""] * 5 + ["[1]", "{bad"]))
        calls.append(
            {
                "id": f"call_{counter[0]}",
                "type": "function",
                "function": {"name": draw(st.sampled_from(NAMES)), "arguments": arguments},
            }
        )
    content = draw(st.one_of(st.none(), texts))
    messages: list[JSON] = [{"role": "assistant", "content": content, "tool_calls": calls}]
    answered = draw(st.permutations(calls))
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        answered = answered[1:]  # occasionally a missing result: must be refused, not sent
    for call in answered:
        result = draw(st.sampled_from(['{"temp": 18}', "plain", "", "[1, 2]"]))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return messages


@st.composite
def chat_requests(draw: st.DrawFn) -> JSON:
    counter = [0]
    messages: list[JSON] = [
        {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)}
        for _ in range(draw(st.integers(min_value=0, max_value=2)))
    ]
    if draw(st.integers(min_value=0, max_value=19)) == 0:  # occasionally an image nobody fetched
        messages.append(
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/b.png"}}]}
        )
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["user"] * 4 + ["assistant"] * 2 + ["tools"] * 3 + ["stray_tool"]))
        if kind == "user":
            messages.append(draw(user_message()))
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": draw(texts)})
        elif kind == "tools":
            messages.extend(draw(tool_exchange(counter)))
        else:
            messages.append({"role": "tool", "tool_call_id": "call_unknown", "content": "x"})
    body: JSON = {"model": "gemini-2.5-flash", "messages": messages}
    tool_names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    if tool_names:
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": draw(st.one_of(st.none(), schemas()))}}
            for n in tool_names
        ]
    choice = draw(
        st.one_of(
            st.none(),
            st.sampled_from(["auto", "none", "required"]),
            st.builds(lambda n: {"type": "function", "function": {"name": n}}, st.sampled_from(NAMES)),
            st.builds(
                lambda mode, ns: {
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": mode,
                        "tools": [{"type": "function", "function": {"name": n}} for n in ns],
                    },
                },
                st.sampled_from(["auto", "required"]),
                st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True),
            ),
        )
    )
    if choice is not None:
        body["tool_choice"] = choice
    fmt = draw(st.sampled_from([None, "text", "json_object", "json_schema"]))
    if fmt == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "out", "schema": draw(schemas())}}
    elif fmt is not None:
        body["response_format"] = {"type": fmt}
    for name, strategy in (
        ("temperature", st.floats(min_value=0, max_value=2)),
        ("top_p", st.floats(min_value=0, max_value=1)),
        ("n", st.integers(min_value=1, max_value=10)),
        ("seed", st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        ("stop", st.one_of(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=4))),
        ("max_tokens", st.integers(min_value=1, max_value=10**6)),
        ("max_completion_tokens", st.integers(min_value=1, max_value=10**6)),
        ("presence_penalty", st.floats(min_value=-2, max_value=2)),
        ("reasoning_effort", st.sampled_from(["low", "medium", "high", "none", "bogus"])),
        ("parallel_tool_calls", st.booleans()),
        ("user", st.text(max_size=5)),
    ):
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            body[name] = draw(strategy)
    return body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_requests())
def test_build_request_obeys_gemini_rules_or_refuses(body: JSON) -> None:
    try:
        validate_chat(body)
    except TranslationError:
        assume(False)
    try:
        vendor, adjusted = build_request(body, model="gemini-2.5-flash", images=IMAGES)
    except TranslationError as exc:
        assert exc.param  # the 400 names the field
        event(f"refused: {exc.param.split('[')[0]}")
        return
    event("translated")
    assert problems(vendor) == []
    assert set(adjusted) <= {"seed"}
