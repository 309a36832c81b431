"""Google Gemini (generativelanguage v1beta): URLs, the `x-goog-api-key` header and the httpx calls; every body
and frame goes through `translators.gemini`.

    chat        {GOOGLE_BASE_URL}/v1beta/models/{model}:generateContent
    stream      {GOOGLE_BASE_URL}/v1beta/models/{model}:streamGenerateContent?alt=sse   (never without alt=sse)
    embeddings  {GOOGLE_BASE_URL}/v1beta/models/{model}:embedContent | :batchEmbedContents (<= 100 per call)
    models      {GOOGLE_BASE_URL}/v1beta/models (nextPageToken followed)

Image URLs in a request are fetched here, through the SSRF-guarded fetcher, before translation (Gemini is sent
the bytes inline); a refused or failed fetch is a 400 naming the image's field. Gemini gives tool calls no ids,
so they are generated here and handed to the pure translators. Params adjusted to Gemini's range are named in
`x-gateway-adjusted` (CONTRACT §7).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gateway.errors import InvalidRequestError, UpstreamError
from gateway.fetch import FetchError, FetchPolicy, GuardedFetcher
from gateway.providers.base import new_completion_id, new_tool_call_id, now_s
from gateway.providers.http import (
    SSEStream,
    list_pages,
    open_stream,
    parse_json_answer,
    post_json,
    translate_with,
)
from gateway.settings import Settings
from gateway.transport import Upstream, fixed_headers
from gateway.types import JSON, ChatCall, Reply
from translators.errors import TranslationError, VendorError
from translators.gemini import embeddings, errors, request, response, stream

MODEL_PAGES = 20  # /v1beta/models pages followed at most
PAGE_SIZE = 1000
LISTED_METHODS = frozenset({"generateContent", "embedContent", "batchEmbedContents"})


def _translation(exc: TranslationError) -> InvalidRequestError:
    return InvalidRequestError.from_translation(exc)


class GoogleProvider:
    name = "google"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        client: Upstream,
        timeout_s: float,
        fetcher: GuardedFetcher,
    ) -> None:
        self._base = base_url.rstrip("/") + "/v1beta/"
        self._headers = fixed_headers({"x-goog-api-key": api_key, "content-type": "application/json"})
        self._client = client
        self._timeout_s = timeout_s
        self._fetcher = fetcher

    @classmethod
    def from_settings(cls, settings: Settings, client: Upstream) -> GoogleProvider:
        """The registry's factory: key, base URL and timeout from settings; image fetching per FETCH_* settings."""
        return cls(
            api_key=settings.google_api_key or "",
            base_url=settings.google_base_url,
            client=client,
            timeout_s=settings.upstream_timeout_s,
            fetcher=GuardedFetcher(FetchPolicy.for_images(settings)),
        )

    def _url(self, model: str, method: str) -> str:
        try:
            path = request.model_path(model)
        except TranslationError as exc:
            raise _translation(exc) from None
        return f"{self._base}{path}:{method}"

    async def _post(self, url: str, body: JSON, request_id: str) -> JSON:
        raw = await post_json(
            self._client,
            url,
            provider=self.name,
            headers=self._headers,
            request_id=request_id,  # the id travels upstream
            body=body,
            parse_error=errors.parse_error,
            timeout_s=self._timeout_s,
        )
        return parse_json_answer(self.name, raw)

    def _bad_answer(self, exc: Exception) -> UpstreamError:
        return UpstreamError.from_vendor(self.name, VendorError("bad_response", str(exc)))

    async def send(self, call: ChatCall) -> Reply:
        if call.kind == "embedding":
            return await self._embed(call)
        if call.kind != "chat":  # the routes serve legacy completions through chat
            raise InvalidRequestError(f"Gemini models do not serve `{call.kind}` calls.", param="model")
        model = call.target.model
        images = await self._fetch_images(call.body)
        try:
            body, adjusted = request.build_request(call.body, model=model, images=images)
        except TranslationError as exc:
            raise _translation(exc) from None
        headers = {"x-gateway-adjusted": ",".join(adjusted)} if adjusted else {}
        if call.stream:
            upstream = await open_stream(
                self._client,
                self._url(model, "streamGenerateContent") + "?alt=sse",
                provider=self.name,
                headers=self._headers,
                request_id=call.request_id,
                body=body,
                parse_error=errors.parse_error,
                timeout_s=self._timeout_s,
            )
            translator = stream.StreamTranslator(
                completion_id=new_completion_id(),
                created=now_s(),
                model=model,
                include_usage=True,  # the pipeline meters every stream; the route hides usage if not asked
                new_tool_call_id=new_tool_call_id,
            )
            chunks = SSEStream(upstream, translate_with(translator), provider=self.name, timeout_s=self._timeout_s)
            return Reply(call.target, stream=chunks, headers=headers)
        answer = await self._post(self._url(model, "generateContent"), body, call.request_id)
        try:
            ids = [new_tool_call_id() for _ in range(response.count_tool_calls(answer))]
            result = response.parse_response(
                answer, completion_id=new_completion_id(), created=now_s(), model=model, tool_call_ids=ids
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._bad_answer(exc) from None
        return Reply(call.target, body=result, headers=headers)

    async def _fetch_images(self, body: JSON) -> dict[str, tuple[str, bytes]]:
        """Each distinct http(s) image URL fetched once, concurrently; the first failure is a 400 naming it."""
        wanted: dict[str, str] = {}
        for param, url in request.remote_images(body):
            wanted.setdefault(url, param)
        if not wanted:
            return {}

        async def one(url: str, param: str) -> tuple[str, tuple[str, bytes]]:
            try:
                fetched = await self._fetcher.get(url)
            except FetchError as exc:
                raise InvalidRequestError(f"The image could not be fetched: {exc}.", param=param) from None
            return url, (fetched.content_type, fetched.body)

        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other fetches
                tasks = [group.create_task(one(url, param)) for url, param in wanted.items()]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return dict(task.result() for task in tasks)

    async def _embed(self, call: ChatCall) -> Reply:
        model = call.target.model
        try:
            method, body = embeddings.build_embed_request(call.body, model=model)
        except TranslationError as exc:
            raise _translation(exc) from None
        url = self._url(model, method)
        bodies = embeddings.split_batch(body) if method == "batchEmbedContents" else [body]
        answers = [await self._post(url, part, call.request_id) for part in bodies]  # in order; > 100 inputs are rare
        expected = len(body["requests"]) if method == "batchEmbedContents" else 1
        try:
            result = embeddings.parse_embed_response(
                answers, model=model, encoding_format=call.body.get("encoding_format"), expected=expected
            )
        except (ValueError, TypeError) as exc:
            raise self._bad_answer(exc) from None
        return Reply(call.target, body=result)

    async def list_models(self) -> list[JSON]:
        def page_url(token: str | None) -> str:
            return f"{self._base}models?pageSize={PAGE_SIZE}" + (f"&pageToken={quote(token, safe='')}" if token else "")

        def next_cursor(page: JSON) -> str | None:
            token = page.get("nextPageToken")
            return token if isinstance(token, str) and token else None

        return await list_pages(
            self._client,
            page_url,
            provider=self.name,
            headers=self._headers,
            parse_error=errors.parse_error,
            timeout_s=self._timeout_s,
            models_of=lambda page: _models(page.get("models")),
            next_cursor=next_cursor,
            max_pages=MODEL_PAGES,
        )

    async def aclose(self) -> None:
        await self._fetcher.aclose()
        await self._client.aclose()


def _models(found: Any) -> list[JSON]:
    """Gemini models -> OpenAI `Model`s: chat and embedding models only, `models/` prefix removed."""
    out: list[JSON] = []
    for model in found if isinstance(found, list) else ():
        if not isinstance(model, Mapping) or not isinstance(model.get("name"), str):
            continue
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and LISTED_METHODS.isdisjoint(methods):
            continue
        out.append({"id": model["name"].removeprefix("models/"), "object": "model", "created": 0, "owned_by": "google"})
    return out
