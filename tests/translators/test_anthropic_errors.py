"""Anthropic error answers -> VendorError -> the gateway's HTTP error (CONTRACT §6)."""

from __future__ import annotations

import pytest

from gateway.errors import UpstreamError
from translators.anthropic.errors import parse_error, stream_error


def body(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "kind", "vendor_type", "gateway_status", "code"),
    [
        (400, "bad_request", "invalid_request_error", 400, None),
        (401, "authentication", "authentication_error", 401, "invalid_api_key"),
        (403, "permission", "permission_error", 403, None),
        (404, "not_found", "not_found_error", 404, "model_not_found"),
        (413, "too_large", "request_too_large", 413, "request_too_large"),
        (429, "rate_limit", "rate_limit_error", 429, "rate_limit_exceeded"),
        (500, "server", "api_error", 502, "upstream_error"),
        (504, "timeout", "timeout_error", 504, "upstream_timeout"),
        (529, "overloaded", "overloaded_error", 503, "overloaded"),
    ],
)
def test_parse_error_maps_each_status(
    status: int, kind: str, vendor_type: str, gateway_status: int, code: str | None
) -> None:
    message = "model: claude-x" if status == 404 else "something happened"
    error = parse_error(status, body(vendor_type, message), {})
    assert error.kind == kind
    assert error.message == message
    mapped = UpstreamError.from_vendor("anthropic", error)
    assert mapped.status == gateway_status
    assert mapped.code == code
    assert message in mapped.message


def test_parse_error_treats_overloaded_message_as_overloaded_whatever_the_status() -> None:
    error = parse_error(500, body("api_error", "Overloaded"), {})
    assert error.kind == "overloaded"


def test_parse_error_honours_retry_after() -> None:
    error = parse_error(429, body("rate_limit_error", "slow down"), {"retry-after": "17"})
    assert error.retry_after_s == 17.0
    assert UpstreamError.from_vendor("anthropic", error).headers["retry-after"] == "17"


def test_parse_error_marks_a_too_long_prompt_as_context_length_exceeded() -> None:
    error = parse_error(400, body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), {})
    assert error.code == "context_length_exceeded"


def test_parse_error_survives_a_body_that_is_not_json() -> None:
    error = parse_error(502, None, {})
    assert error.kind == "server"
    assert error.message == "HTTP 502"


def test_stream_error_takes_its_kind_from_the_error_type() -> None:
    error = stream_error({"type": "overloaded_error", "message": "Overloaded"})
    assert error.kind == "overloaded"
    assert error.retryable
    assert UpstreamError.from_vendor("anthropic", error).status == 503
