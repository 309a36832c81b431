"""Several deployments of one provider (two keys, two base URLs) behind one name.

Each call goes to the healthy deployment with the fewest calls in flight for its weight (in-flight / weight);
ties go to the one that has served the fewest calls for its weight, so sequential traffic is shared by weight
too. A deployment whose call fails with a retryable error sits out `cooldown_s`; if every deployment is sitting
out, the one that failed longest ago is tried. Retries and fallbacks stay the failover layer's job: its next
attempt simply lands on another deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import UpstreamError
from gateway.providers.base import Provider
from gateway.streams import Outcome, TappedStream
from gateway.types import JSON, ChatCall, Reply

COOLDOWN_S = 30.0


@dataclass(slots=True)
class Member:
    provider: Provider
    weight: int
    in_flight: int = 0
    down_until: float = 0.0
    calls: int = 0


class BalancedProvider:
    def __init__(
        self,
        name: str,
        members: Sequence[tuple[Provider, int]],
        *,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.members = [Member(provider, weight) for provider, weight in members]
        self._cooldown_s = cooldown_s
        self._clock = clock

    def pick(self) -> Member:
        now = self._clock()
        healthy = [m for m in self.members if m.down_until <= now]
        if not healthy:
            return min(self.members, key=lambda m: m.down_until)
        return min(healthy, key=lambda m: (m.in_flight / m.weight, m.calls / m.weight))

    async def send(self, call: ChatCall) -> Reply:
        member = self.pick()
        member.in_flight += 1
        member.calls += 1
        try:
            reply = await member.provider.send(call)
        except UpstreamError as exc:
            member.in_flight -= 1
            if exc.retryable:
                member.down_until = self._clock() + self._cooldown_s
            raise
        except BaseException:
            member.in_flight -= 1
            raise
        if reply.stream is None:
            member.in_flight -= 1
            return reply

        def ended(outcome: Outcome, exc: BaseException | None) -> None:
            member.in_flight -= 1
            if isinstance(exc, UpstreamError) and exc.retryable:
                member.down_until = self._clock() + self._cooldown_s

        reply.stream = TappedStream(reply.stream, on_end=ended)
        return reply

    async def list_models(self) -> list[JSON]:
        return await self.pick().provider.list_models()

    async def aclose(self) -> None:
        for member in self.members:
            await member.provider.aclose()
