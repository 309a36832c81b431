"""Gemini error answers -> VendorError -> the gateway's OpenAI error (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamError, to_openai_error
from tests.translators import gemini_golden as golden
from translators.gemini.errors import parse_error

JSON = dict[str, Any]


def gemini_error(code: int, status: str, message: str, details: list[Any] | None = None) -> JSON:
    error: JSON = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def rendered(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[int, JSON, dict[str, str]]:
    code, raw, out_headers = to_openai_error(
        UpstreamError.from_vendor("google", parse_error(status, body, headers or {}))
    )
    return code, orjson.loads(raw), out_headers


@pytest.mark.parametrize("case", [c for c in golden.cases("vendor_response.json") if "status" in golden.meta(c)])
def test_parse_error_matches_golden(case: str) -> None:
    status, body, _ = rendered(golden.meta(case)["status"], golden.load(case, "vendor_response.json"))
    golden.check(case, "openai_response.json", {"status": status, "body": body})


def test_parse_error_invalid_api_key_is_authentication_keeping_400() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    status, body, _ = rendered(400, gemini_error(400, "INVALID_ARGUMENT", "API key not valid.", details))
    assert status == 400
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "invalid_api_key"
    assert "API key not valid." in body["error"]["message"]


def test_parse_error_plain_400_is_invalid_request_with_vendor_message() -> None:
    status, body, _ = rendered(400, gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
    assert (status, body["error"]["type"]) == (400, "invalid_request_error")
    assert body["error"]["message"] == "google: Invalid JSON payload received."


def test_parse_error_context_too_long_has_its_code() -> None:
    message = "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."
    assert parse_error(400, gemini_error(400, "INVALID_ARGUMENT", message), {}).code == "context_length_exceeded"


def test_parse_error_failed_precondition_has_its_code() -> None:
    error = parse_error(400, gemini_error(400, "FAILED_PRECONDITION", "User location is not supported."), {})
    assert error.code == "failed_precondition"


def test_parse_error_403_is_permission_denied() -> None:
    status, body, _ = rendered(403, gemini_error(403, "PERMISSION_DENIED", "Permission denied on tuned model."))
    assert (status, body["error"]["type"]) == (403, "permission_error")


def test_parse_error_404_model_is_model_not_found() -> None:
    status, body, _ = rendered(
        404, gemini_error(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta")
    )
    assert (status, body["error"]["code"]) == (404, "model_not_found")


def test_parse_error_429_retry_delay_becomes_retry_after() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    ]
    error = parse_error(429, gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", details), {})
    assert (error.kind, error.retry_after_s, error.retryable) == ("rate_limit", 37.0, True)
    status, body, headers = rendered(429, gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", details))
    assert (status, headers["retry-after"], body["error"]["type"]) == (429, "37", "rate_limit_error")


def test_parse_error_500_is_502_upstream_error() -> None:
    status, body, _ = rendered(500, gemini_error(500, "INTERNAL", "An internal error has occurred."))
    assert (status, body["error"]["code"]) == (502, "upstream_error")


def test_parse_error_503_overloaded_is_503_overloaded() -> None:
    error = parse_error(503, gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), {})
    assert (error.kind, error.retryable) == ("overloaded", True)


def test_parse_error_503_other_is_502() -> None:
    status, body, _ = rendered(503, gemini_error(503, "UNAVAILABLE", "The service is currently unavailable."))
    assert (status, body["error"]["code"]) == (502, "upstream_error")


def test_parse_error_504_is_timeout() -> None:
    status, body, _ = rendered(504, gemini_error(504, "DEADLINE_EXCEEDED", "Deadline exceeded."))
    assert (status, body["error"]["code"]) == (504, "upstream_timeout")


def test_parse_error_unwraps_array_bodies() -> None:
    error = parse_error(403, [gemini_error(403, "PERMISSION_DENIED", "nope")], {})
    assert (error.kind, error.message) == ("permission", "nope")


def test_parse_error_without_json_keeps_the_status() -> None:
    error = parse_error(502, None, {})
    assert (error.kind, error.message) == ("server", "HTTP 502")
