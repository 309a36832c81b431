"""The HTTP routes: `/api/llm/*` and their OpenAI-compatible `/v1/*` aliases (CONTRACT §3).

An LLM route reads the body (bounded by MAX_BODY_BYTES), validates it, builds a `ChatCall`, runs the pipeline
and writes the `Reply`: the upstream's own bytes when nothing changed, or SSE frames one at a time. Routes
hold no policy; that lives in the pipeline's layers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.catalog import PREFIX_ALIASES, PROVIDERS, Catalog
from gateway.errors import (
    INTERNAL_ERROR,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    error_body,
)
from gateway.pipeline import unconfigured
from gateway.providers.base import Provider
from gateway.resilience.breaker import BreakerRegistry
from gateway.types import (
    JSON,
    CallKind,
    ChatCall,
    Chunk,
    ChunkStream,
    Handler,
    Principal,
    Receive,
    Reply,
    Scope,
    Send,
    Target,
)
from translators import completions
from translators.errors import TranslationError
from translators.schema import validate_chat, validate_completion, validate_embedding
from translators.sse import DONE_FRAME, encode_data

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
NATIVE_COMPLETION_PREFIXES = ("davinci", "babbage")

Endpoint = Callable[[Request], Awaitable[Response]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def principal_of(request: Request) -> Principal:
    principal: Principal = request.scope["state"]["principal"]
    return principal


def admin_only(endpoint: Endpoint) -> Endpoint:
    """Mark a route admin-only (CONTRACT §5). The marker lets a test list every admin route."""

    async def guarded(request: Request) -> Response:
        if not principal_of(request).is_admin:
            raise PermissionDeniedError("This route needs the admin role.")
        return await endpoint(request)

    guarded.admin_only = True  # type: ignore[attr-defined]  # read by tests/test_admin_routes.py
    return guarded


def header(scope: Scope, name: bytes) -> bytes | None:
    """One request header's raw value (`name` lower-case), without building Starlette's `Headers`."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_json(request: Request, limit: int) -> JSON:
    """The body of a Starlette request as a JSON object (see `read_json_body`)."""
    return await read_json_body(request.scope, request.receive, limit)


async def read_json_body(scope: Scope, receive: Receive, limit: int) -> JSON:
    """The body as a JSON object, read at most `limit` bytes (413 past it, without buffering the rest)."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The request body is larger than {limit} bytes (MAX_BODY_BYTES).")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise PayloadTooLargeError(f"The request body is larger than {limit} bytes (MAX_BODY_BYTES).")
        if part:
            parts.append(part)
        if not message.get("more_body", False):
            break
    raw = parts[0] if len(parts) == 1 else b"".join(parts)
    if not raw:
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc.msg} (at byte {exc.pos}).") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


@dataclass(slots=True)
class LLMRequest:
    """What an LLM endpoint needs of its HTTP request, read once by `LLMEndpoint`."""

    body: JSON
    principal: Principal
    request_id: str
    cache_control: str | None  # lower-cased


# An LLM endpoint's answer: the reply, and whether the caller asked for the usage chunk of a stream.
Answer = tuple[Reply, bool]


class LLMEndpoint:
    """An LLM route as a bare ASGI app: the body is read straight from `receive` and the answer written with
    prebuilt header bytes. These routes carry every LLM call, and Starlette's `Request`/`Response` objects
    cost more per request than everything done here (bench/README.md, "route")."""

    __slots__ = ("_handle", "_limit")

    def __init__(self, handle: Callable[[LLMRequest], Awaitable[Answer]], *, max_body_bytes: int) -> None:
        self._handle = handle
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_json_body(scope, receive, self._limit)
        state = scope["state"]
        cache_control = header(scope, b"cache-control")
        request = LLMRequest(
            body=body,
            principal=state["principal"],
            request_id=state["request_id"],
            cache_control=cache_control.decode("latin-1").lower() if cache_control else None,
        )
        reply, include_usage = await self._handle(request)
        if reply.stream is not None:
            await stream_response(reply, reply.stream, include_usage=include_usage)(scope, receive, send)
            return
        raw = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
        headers = [JSON_CONTENT_TYPE, (b"content-length", b"%d" % len(raw)), *encode_headers(reply_headers(reply))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def make_call(
    kind: CallKind,
    body: JSON,
    target: Target,
    *,
    stream: bool,
    principal: Principal,
    request_id: str,
    cache_control: str | None = None,
) -> ChatCall:
    options = body.get("stream_options")
    fallbacks = body.get("fallbacks")
    return ChatCall(
        kind=kind,
        body=body,
        target=target,
        principal=principal,
        request_id=request_id,
        stream=stream,
        include_usage=bool(stream and isinstance(options, dict) and options.get("include_usage")),
        fallbacks=tuple(fallbacks) if isinstance(fallbacks, list) else None,
        cache_control=cache_control,
    )


def _translation(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except TranslationError as exc:
        raise InvalidRequestError.from_translation(exc) from None


class LLMRoutes:
    """The endpoints. They share the catalog, the providers (filled at start-up) and the pipeline."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        providers: dict[str, Provider],
        pipeline: Handler,
        max_body_bytes: int,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.catalog = catalog
        self.providers = providers
        self.pipeline = pipeline
        self.max_body_bytes = max_body_bytes
        self.breakers = breakers or BreakerRegistry()  # circuit state, kept by the failover layer

    # ---- LLM calls ---------------------------------------------------------------------------------

    def _call(self, kind: CallKind, body: JSON, request: LLMRequest, target: Target, *, stream: bool) -> ChatCall:
        return make_call(
            kind,
            body,
            target,
            stream=stream,
            principal=request.principal,
            request_id=request.request_id,
            cache_control=request.cache_control,
        )

    def chat_call(
        self, body: JSON, *, principal: Principal, request_id: str, cache_control: str | None = None
    ) -> ChatCall:
        """Validate a chat body and build its call, without an HTTP request: the chat route and each batch
        item (gateway/batch.py) go through here."""
        chat = _translation(lambda: validate_chat(body))
        target = self.catalog.resolve(chat.model)
        self._require_kind(target, "chat")
        return make_call(
            "chat",
            body,
            target,
            stream=bool(chat.stream),
            principal=principal,
            request_id=request_id,
            cache_control=cache_control,
        )

    async def chat(self, request: LLMRequest) -> Answer:
        call = self.chat_call(
            request.body,
            principal=request.principal,
            request_id=request.request_id,
            cache_control=request.cache_control,
        )
        return await self.pipeline(call), call.include_usage

    async def completions(self, request: LLMRequest) -> Answer:
        body = request.body
        legacy = _translation(lambda: validate_completion(body))
        target = self.catalog.resolve(legacy.model)
        stream = bool(legacy.stream)
        if self._native_completions(target):
            call = self._call("completion", body, request, target, stream=stream)
            return await self.pipeline(call), call.include_usage
        self._require_kind(target, "chat")
        prompts = legacy.prompt if isinstance(legacy.prompt, list) else [legacy.prompt]
        if not all(isinstance(p, str) for p in prompts):
            raise InvalidRequestError("Token-array prompts need a native completions model.", param="prompt")
        if stream and len(prompts) > 1:
            raise InvalidRequestError("Streaming takes one prompt with this model.", param="prompt")
        echo = bool(legacy.echo)
        chats: list[JSON] = [_translation(partial(completions.chat_body, {**body, "prompt": p})) for p in prompts]
        if stream:
            call = self._call("chat", chats[0], request, target, stream=True)
            reply = await self.pipeline(call)
            assert reply.stream is not None
            reply.stream = _CompletionChunks(reply.stream, prefix=prompts[0] if echo else "")
            return reply, call.include_usage
        replies = await asyncio.gather(
            *(self.pipeline(self._call("chat", c, request, target, stream=False)) for c in chats)
        )
        merged = _merge_completions(
            [
                completions.completion_response(r.body or {}, prompt=p, echo=echo)
                for r, p in zip(replies, prompts, strict=True)
            ],
            n=legacy.n or 1,
        )
        return Reply(replies[0].target, body=merged, headers=replies[0].headers), False

    async def embeddings(self, request: LLMRequest) -> Answer:
        body = request.body
        embedding = _translation(lambda: validate_embedding(body))
        target = self.catalog.resolve(embedding.model)
        if target.provider == "anthropic":
            raise InvalidRequestError(
                f"The model '{embedding.model}' does not support embeddings: Anthropic has no embeddings API.",
                param="model",
            )
        self._require_kind(target, "embedding")
        return await self.pipeline(self._call("embedding", body, request, target, stream=False)), False

    def _require_kind(self, target: Target, kind: str) -> None:
        info = self.catalog.info(target)
        if info is None:
            return
        if kind == "embedding" and info.kind != "embedding":
            raise InvalidRequestError(f"The model '{target.model}' is not an embedding model.", param="model")
        if kind == "chat" and info.kind == "embedding":
            raise InvalidRequestError(
                f"The model '{target.model}' is an embedding model; use /v1/embeddings.", param="model"
            )

    def _native_completions(self, target: Target) -> bool:
        if target.provider != "openai":
            return False
        info = self.catalog.info(target)
        if info is not None:
            return info.kind == "completion"
        return "instruct" in target.model or target.model.startswith(NATIVE_COMPLETION_PREFIXES)

    # ---- catalog and providers ---------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return json_response({"object": "list", "data": self._models(None)})

    async def provider_models(self, request: Request) -> Response:
        provider = _provider_name(request.path_params["provider"])
        return json_response({"object": "list", "data": self._models(provider)})

    def _models(self, provider: str | None) -> list[JSON]:
        return [{**m.as_json(), "available": m.provider in self.providers} for m in self.catalog.models(provider)]

    def _openai_model(self, provider: str, model_id: str) -> JSON:
        name = f"mock/{model_id}" if provider == "mock" else model_id
        return {"id": name, "object": "model", "created": 0, "owned_by": provider}

    async def v1_models(self, request: Request) -> Response:
        data = [self._openai_model(m.provider, m.id) for m in self.catalog.models() if m.provider in self.providers]
        return json_response({"object": "list", "data": data})

    async def v1_model(self, request: Request) -> Response:
        name = request.path_params["model"]
        target = self.catalog.resolve(name)
        if target.provider not in self.providers:
            raise unconfigured(target.provider, target.model)
        return json_response(self._openai_model(target.provider, target.model))

    async def list_providers(self, request: Request) -> Response:
        data = [
            {
                "name": name,
                "configured": name in self.providers,
                "healthy": name in self.providers and self.breakers.state(name) != "open",
                "circuit": self.breakers.state(name),
                "models": len(self.catalog.models(name)),
            }
            for name in PROVIDERS
        ]
        return json_response({"data": data})

    async def test_provider(self, request: Request) -> Response:
        name = _provider_name(request.path_params["provider"])
        provider = self.providers.get(name)
        if provider is None:
            return json_response({"provider": name, "ok": False, "latency_ms": None, "error": "not configured"})
        started = time.perf_counter()
        error: str | None = None
        try:
            await provider.list_models()
        except GatewayError as exc:
            error = exc.message
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return json_response({"provider": name, "ok": error is None, "latency_ms": latency_ms, "error": error})

    async def providers_health(self) -> JSON:
        """The `providers` health component: which providers are configured, their circuits and last outcomes
        (no vendor call: cheap to poll). Degraded while a circuit is open, down when none can be called."""
        configured = sorted(self.providers)
        circuits = {name: self.breakers.snapshot(name) for name in configured}
        open_count = sum(1 for c in circuits.values() if c["circuit"] == "open")
        status = "down" if open_count == len(configured) else "degraded" if open_count else "ok"
        return {"status": status, "configured": configured, "providers": circuits}

    def routes(self) -> list[BaseRoute]:
        chat = LLMEndpoint(self.chat, max_body_bytes=self.max_body_bytes)
        legacy = LLMEndpoint(self.completions, max_body_bytes=self.max_body_bytes)
        embeddings = LLMEndpoint(self.embeddings, max_body_bytes=self.max_body_bytes)
        return [  # the chat routes first: the router tries routes in order, and they carry most requests
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/api/llm/chat", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/api/llm/embeddings", embeddings, methods=["POST"]),
            Route("/v1/completions", legacy, methods=["POST"]),
            Route("/api/llm/completions", legacy, methods=["POST"]),
            Route("/api/llm/models", self.list_models, methods=["GET"]),
            Route("/api/llm/models/{provider}", self.provider_models, methods=["GET"]),
            Route("/v1/models", self.v1_models, methods=["GET"]),
            Route("/v1/models/{model:path}", self.v1_model, methods=["GET"]),
            Route("/api/llm/providers", self.list_providers, methods=["GET"]),
            Route("/api/llm/providers/{provider}/test", self.test_provider, methods=["GET"]),
        ]


def _provider_name(raw: str) -> str:
    name = PREFIX_ALIASES.get(raw, raw)
    if name not in PROVIDERS:
        raise NotFoundError(f"Unknown provider '{raw}'; the providers are {', '.join(PROVIDERS)}.")
    return name


def _merge_completions(answers: list[JSON], *, n: int) -> JSON:
    """One text_completion from one answer per prompt: choice index = prompt_index * n + k (wire-formats §2.1)."""
    merged = dict(answers[0])
    choices: list[JSON] = []
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for prompt_index, answer in enumerate(answers):
        for choice in answer["choices"]:
            choices.append({**choice, "index": prompt_index * n + choice["index"]})
        for key in usage:
            usage[key] += (answer.get("usage") or {}).get(key, 0)
    merged["choices"] = choices
    merged["usage"] = usage
    return merged


class _CompletionChunks:
    """Chat chunks reshaped as text_completion chunks, for chat-only models on the legacy route."""

    __slots__ = ("_inner", "_prefix")

    def __init__(self, inner: ChunkStream, *, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix  # `echo`: the prompt goes out first

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        async for chunk in self._inner:
            data = completions.completion_chunk(chunk.data)
            if data is None:
                continue
            if self._prefix and data["choices"]:
                data["choices"][0]["text"] = self._prefix + data["choices"][0]["text"]
                self._prefix = ""
            yield Chunk(data)

    async def aclose(self) -> None:
        await self._inner.aclose()


# ---- writing replies ----------------------------------------------------------------------------------


def reply_headers(reply: Reply) -> dict[str, str]:
    # `bypass` unless the cache layer said otherwise: with CACHE_ENABLED=false it is not in the pipeline (§7)
    return {"x-gateway-provider": reply.target.provider, "x-gateway-cache": "bypass", **reply.headers}


def stream_response(reply: Reply, stream: ChunkStream, *, include_usage: bool) -> StreamingResponse:
    """A streamed reply as SSE. Starlette's StreamingResponse watches for the caller leaving (and cancels the
    upstream then); the background task closes the upstream even if the caller left before the first frame."""
    return StreamingResponse(
        sse_frames(stream, include_usage=include_usage),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, **reply_headers(reply)},
        background=BackgroundTask(stream.aclose),
    )


async def sse_frames(stream: ChunkStream, *, include_usage: bool) -> AsyncIterator[bytes]:
    """OpenAI SSE: one `data:` frame per chunk, then `[DONE]`. A failure after the headers went out becomes one
    error event and the stream closes without `[DONE]`, so a truncated answer never looks complete.

    Inside the pipeline every stream carries usage (the cost layer needs it); a caller who did not ask for
    `stream_options.include_usage` gets neither the usage-only chunk nor `usage` keys in new chunks."""
    try:
        async for chunk in stream:
            data = chunk.data
            if not include_usage and "usage" in data:
                if not data.get("choices"):
                    continue
                if chunk.raw is None:
                    data.pop("usage")
            yield encode_data(chunk.raw if chunk.raw is not None else orjson.dumps(data))
        yield DONE_FRAME
    except GatewayError as exc:
        yield encode_data(orjson.dumps(error_body(exc)))
    except Exception:
        logger.exception("stream failed")
        yield encode_data(orjson.dumps(error_body(INTERNAL_ERROR)))
    finally:
        await stream.aclose()
