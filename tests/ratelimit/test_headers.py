from __future__ import annotations

import pytest

from gateway.ratelimit.gcra import Status, Verdict
from gateway.ratelimit.headers import add_limit_headers, openai_duration, retry_headers


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (1, "1ms"),
        (20, "20ms"),
        (999, "999ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (17_280, "17.28s"),
        (59_999, "59.999s"),
        (60_000, "1m0s"),
        (360_000, "6m0s"),
        (361_500, "6m1.5s"),
        (3_600_000, "1h0m0s"),
        (3_723_000, "1h2m3s"),
    ],
)
def test_openai_duration_matches_go_style(ms: int, text: str) -> None:
    assert openai_duration(ms) == text


def test_add_limit_headers_sets_the_trio() -> None:
    headers: dict[str, str] = {}
    add_limit_headers(headers, Status(60, 59, 1000), "requests")
    add_limit_headers(headers, Status(10_000, 9_000, 6_000), "tokens")
    assert headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "9000",
        "x-ratelimit-reset-tokens": "6s",
    }


def test_add_limit_headers_keeps_an_inner_limits_values() -> None:
    headers = {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0"}
    add_limit_headers(headers, Status(60, 59, 1000), "requests")
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert "x-ratelimit-reset-requests" not in headers


def test_retry_headers_say_when_waiting_cannot_help() -> None:
    assert retry_headers(Verdict(False, (), retry_after_ms=1200)) == {"retry-after-ms": "1200"}
    assert retry_headers(Verdict(False, (), retry_after_ms=1, too_large=True))["x-should-retry"] == "false"
