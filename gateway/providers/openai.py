"""OpenAI: URLs, auth header and the httpx calls. Bodies and SSE frames pass through with the model id
resolved; whole answers are forwarded as the upstream's own bytes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.errors import UpstreamError
from gateway.providers.http import SSEStream, open_stream, parse_json_answer, post_json
from gateway.transport import Upstream, fixed_headers
from gateway.types import JSON, ChatCall, Chunk, Reply
from translators.errors import VendorError
from translators.openai import errors, request, response, stream
from translators.sse import SSEEvent

PATHS = {"chat": "/chat/completions", "completion": "/completions", "embedding": "/embeddings"}


def _parse_error(status: int, body: Any, headers: Mapping[str, str]) -> VendorError:
    return errors.parse_error(status, body, headers, now=time.time())


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, api_key: str, base_url: str, client: Upstream, timeout_s: float) -> None:
        base = base_url.rstrip("/")
        self._urls = {kind: base + path for kind, path in PATHS.items()}
        self._models_url = base + "/models"
        self._headers = fixed_headers({"authorization": f"Bearer {api_key}", "content-type": "application/json"})
        self._client = client
        self._timeout_s = timeout_s

    async def send(self, call: ChatCall) -> Reply:
        streaming = call.stream and call.kind != "embedding"
        body = request.build_request(call.body, model=call.target.model, force_usage=streaming)
        url = self._urls[call.kind]
        if streaming:
            upstream = await open_stream(
                self._client,
                url,
                provider=self.name,
                headers=self._headers,
                request_id=call.request_id,
                body=body,
                parse_error=_parse_error,
                timeout_s=self._timeout_s,
            )
            translator = stream.StreamTranslator()

            def translate(event: SSEEvent | None) -> list[Chunk]:
                pairs = translator.feed(event) if event is not None else translator.finish()
                return [Chunk(data, raw) for data, raw in pairs]

            return Reply(
                call.target, stream=SSEStream(upstream, translate, provider=self.name, timeout_s=self._timeout_s)
            )
        raw = await post_json(
            self._client,
            url,
            provider=self.name,
            headers=self._headers,
            request_id=call.request_id,
            body=body,
            parse_error=_parse_error,
            timeout_s=self._timeout_s,
        )
        answer = parse_json_answer(self.name, raw)
        try:
            response.check_response(answer, kind=call.kind)
        except ValueError as exc:
            raise UpstreamError.from_vendor(self.name, VendorError("bad_response", str(exc))) from None
        return Reply(call.target, body=answer, raw=raw)

    async def list_models(self) -> list[JSON]:
        raw = await post_json(
            self._client,
            self._models_url,
            provider=self.name,
            method="GET",
            headers=self._headers,
            parse_error=_parse_error,
            timeout_s=min(self._timeout_s, 30.0),
        )
        data = parse_json_answer(self.name, raw).get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def aclose(self) -> None:
        await self._client.aclose()
