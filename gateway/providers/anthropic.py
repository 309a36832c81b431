"""Anthropic: URLs, headers and the httpx calls; every body and frame goes through `translators.anthropic`.

Chat (and legacy completions, which the routes serve through chat) go to `{ANTHROPIC_BASE_URL}/v1/messages`;
the model list comes from `/v1/models`. Anthropic needs `max_tokens` on every request, so a caller who sends
none gets the model's own output limit from the bundled catalog. Params the translator had to adjust to
Anthropic's range are named in `x-gateway-adjusted` (CONTRACT §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from gateway.catalog import Catalog
from gateway.errors import InvalidRequestError, UpstreamError
from gateway.providers.base import new_completion_id, now_s
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
from translators.anthropic import errors, request, response, stream
from translators.errors import TranslationError, VendorError

API_VERSION = "2023-06-01"  # https://docs.anthropic.com/en/api/versioning
FALLBACK_MAX_TOKENS = 4096  # for a Claude model the catalog does not know
MODEL_PAGES = 10  # /v1/models pages followed at most (1000 models each)


def output_limits(catalog: Catalog) -> dict[str, int]:
    """Anthropic model id -> its maximum output tokens, from the catalog."""
    return {m.id: m.max_output_tokens for m in catalog.models("anthropic") if m.max_output_tokens}


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        client: Upstream,
        timeout_s: float,
        max_output_tokens: Mapping[str, int],
    ) -> None:
        base = base_url.rstrip("/")
        self._messages_url = base + "/v1/messages"
        self._models_url = base + "/v1/models"
        self._headers = fixed_headers(
            {"x-api-key": api_key, "anthropic-version": API_VERSION, "content-type": "application/json"}
        )
        self._client = client
        self._timeout_s = timeout_s
        # longest known id first, so a dated id (claude-sonnet-4-5-20250929) finds its family's limit
        self._limits = sorted(max_output_tokens.items(), key=lambda item: -len(item[0]))
        self._defaults: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings, client: Upstream) -> AnthropicProvider:
        """The registry's factory: key, base URL and timeout from settings, output limits from the catalog."""
        return cls(
            api_key=settings.anthropic_api_key or "",
            base_url=settings.anthropic_base_url,
            client=client,
            timeout_s=settings.upstream_timeout_s,
            max_output_tokens=output_limits(Catalog.bundled(settings.config.aliases)),
        )

    def default_max_tokens(self, model: str) -> int:
        limit = self._defaults.get(model)
        if limit is None:
            limit = next((v for k, v in self._limits if model == k or model.startswith(k)), FALLBACK_MAX_TOKENS)
            if len(self._defaults) < 1024:  # bounded: model names come from callers
                self._defaults[model] = limit
        return limit

    async def send(self, call: ChatCall) -> Reply:
        if call.kind != "chat":  # the routes refuse embeddings and serve legacy completions through chat
            raise InvalidRequestError(f"Anthropic models do not serve `{call.kind}` calls.", param="model")
        model = call.target.model
        try:
            body, adjusted = request.build_request(
                call.body, model=model, default_max_tokens=self.default_max_tokens(model)
            )
        except TranslationError as exc:
            raise InvalidRequestError.from_translation(exc) from None
        headers = {"x-gateway-adjusted": ",".join(adjusted)} if adjusted else {}
        if call.stream:
            body["stream"] = True
            upstream = await open_stream(
                self._client,
                self._messages_url,
                provider=self.name,
                headers=self._headers,
                request_id=call.request_id,  # the id travels upstream
                body=body,
                parse_error=errors.parse_error,
                timeout_s=self._timeout_s,
            )
            translator = stream.StreamTranslator(
                completion_id=new_completion_id(), created=now_s(), model=model, include_usage=True
            )
            chunks = SSEStream(upstream, translate_with(translator), provider=self.name, timeout_s=self._timeout_s)
            return Reply(call.target, stream=chunks, headers=headers)
        raw = await post_json(
            self._client,
            self._messages_url,
            provider=self.name,
            headers=self._headers,
            request_id=call.request_id,
            body=body,
            parse_error=errors.parse_error,
            timeout_s=self._timeout_s,
        )
        try:
            answer = response.parse_response(
                parse_json_answer(self.name, raw), completion_id=new_completion_id(), created=now_s(), model=model
            )
        except ValueError as exc:
            raise UpstreamError.from_vendor(self.name, VendorError("bad_response", str(exc))) from None
        return Reply(call.target, body=answer, headers=headers)

    async def list_models(self) -> list[JSON]:
        def page_url(after: str | None) -> str:
            return self._models_url + "?limit=1000" + (f"&after_id={quote(after, safe='')}" if after else "")

        def next_cursor(page: JSON) -> str | None:
            last = page.get("last_id")
            return last if page.get("has_more") and isinstance(last, str) and last else None

        return await list_pages(
            self._client,
            page_url,
            provider=self.name,
            headers=self._headers,
            parse_error=errors.parse_error,
            timeout_s=self._timeout_s,
            models_of=response.parse_models,
            next_cursor=next_cursor,
            max_pages=MODEL_PAGES,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
