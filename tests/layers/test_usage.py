"""gateway.usage: an answer's usage read into `Usage`, and read once per reply by the layers that meter it."""

from __future__ import annotations

from gateway.types import Reply, Target
from gateway.usage import Usage, usage_from, usage_of_reply

TARGET = Target("openai", "gpt-4o-mini")


def test_usage_from_reads_the_details_and_ignores_junk() -> None:
    usage = usage_from(
        {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        }
    )
    assert usage == Usage(11, 7, 4, 2)
    assert usage_from({"prompt_tokens": -3, "completion_tokens": "9", "prompt_tokens_details": None}) == Usage()
    assert usage_from(None) is None


def test_a_replys_usage_is_read_once_and_kept() -> None:
    reply = Reply(TARGET, body={"usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    first = usage_of_reply(reply)
    assert first == Usage(5, 2)
    reply.body = {"usage": {"prompt_tokens": 99}}  # no layer does this; it shows the body is not read again
    assert usage_of_reply(reply) is first
    empty = Reply(TARGET, body={"choices": []})
    assert usage_of_reply(empty) is None
    assert empty.usage_read  # an answer without usage is not read again either
