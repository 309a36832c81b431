"""The provider seam: what the pipeline's last step calls, and the ids/clock providers hand to translators."""

from __future__ import annotations

import time
from typing import Protocol

from gateway.ids import unique_hex
from gateway.types import JSON, ChatCall, Reply


class Provider(Protocol):
    """One vendor. `send` serves chat, legacy completion and embedding calls (by `call.kind`), streamed or not,
    and raises `UpstreamError` for every failure (before a stream starts) so that failover can act on it.
    A returned stream raises `UpstreamError` from iteration if the vendor fails mid-stream."""

    name: str

    async def send(self, call: ChatCall) -> Reply: ...

    async def list_models(self) -> list[JSON]:
        """The vendor's live model list in OpenAI `Model` shape (a cheap authenticated round trip)."""
        ...

    async def aclose(self) -> None: ...


def new_completion_id(prefix: str = "chatcmpl-") -> str:
    return prefix + unique_hex()[-24:]


def now_s() -> int:
    return int(time.time())


def new_tool_call_id() -> str:
    """For vendors that give tool calls no id (Gemini): `call_` + 24 alphanumerics, like OpenAI's."""
    return "call_" + unique_hex()[-24:]
