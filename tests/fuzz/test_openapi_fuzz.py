"""schemathesis against the gateway's own /openapi.json (issue 9): generated requests, valid and invalid, to every
documented operation, with a valid token and the mock provider. No answer may be a 5xx, and every error must be
OpenAI-shaped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.app import build_app
from tests.conftest import make_settings, token
from tests.servers import free_port, serve_in_thread

pytestmark = pytest.mark.slow

PORT = free_port()


@pytest.fixture(scope="module", autouse=True)
def running_gateway() -> Iterator[None]:
    """The gateway as shipped (uvicorn on loopback), the mock provider only."""
    app = build_app(replace(make_settings(openai_api_key=None), mock_stream_delay_ms=0, cache_enabled=False))
    with serve_in_thread(app, port=PORT):
        yield


def test_no_operation_answers_a_server_error(running_gateway: None) -> None:
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{PORT}/openapi.json")
    headers = {"authorization": f"Bearer {token('fuzz')}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    seen: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            content_type = response.headers.get("content-type") or [""]
            if response.status_code >= 400 and content_type[0].startswith("application/json"):
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}

        call()
    assert seen.get(200, 0) > 0 and seen.get(400, 0) > 0  # both valid and refused requests were generated
