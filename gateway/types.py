"""The few shared types of the call pipeline: what a layer receives, what it returns, and the ASGI aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from gateway.usage import Usage

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CallKind = Literal["chat", "completion", "embedding"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the JWT `sub` and whether it carries the admin role."""

    user: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """Where a call goes: a provider name (`openai`, `anthropic`, `google`, `mock`) and the vendor's model id."""

    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One LLM call on its way through the pipeline. `body` is the caller's validated OpenAI request, unchanged;
    layers that need another target use `dataclasses.replace(call, target=...)`."""

    kind: CallKind
    body: JSON
    target: Target
    principal: Principal
    request_id: str
    stream: bool = False
    include_usage: bool = False  # the caller asked for `stream_options.include_usage`
    fallbacks: tuple[str, ...] | None = None  # the request's own chain; () disables failover
    cache_control: str | None = None  # the caller's Cache-Control header, lower-cased


@dataclass(slots=True)
class Chunk:
    """One streamed OpenAI chunk. `raw` keeps the upstream's own encoding when it is passed through unchanged,
    so the route sends it without re-serialising; a layer that changes `data` must set `raw` to None."""

    data: JSON
    raw: bytes | None = None


class ChunkStream(Protocol):
    """An OpenAI chunk stream that can be closed even if it was never iterated (the upstream response is released)."""

    def __aiter__(self) -> AsyncIterator[Chunk]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class Reply:
    """A call's answer: either a whole OpenAI body (`body`, with `raw` bytes when passed through unchanged) or a
    `stream` of chunks. `headers` collects the `x-gateway-*` response headers the layers add."""

    target: Target
    body: JSON | None = None
    raw: bytes | None = None
    stream: ChunkStream | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # `body`'s usage once read (gateway.usage.usage_of_reply): the budget, metrics and token-limit layers all
    # meter a whole answer
    usage: Usage | None = field(default=None, repr=False, compare=False)
    usage_read: bool = field(default=False, repr=False, compare=False)


Handler = Callable[[ChatCall], Awaitable[Reply]]


class Layer(Protocol):
    """One step of the pipeline. It gets `next` as an argument so that a test can pass a stub."""

    async def __call__(self, call: ChatCall, next: Handler) -> Reply: ...
