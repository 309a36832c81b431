"""The call pipeline: layers folded once around the provider dispatch (STYLE §3).

    handler = compose([RateLimit(...), Budget(...), Cache(...), Failover(...)], terminal=Dispatch(providers))

Each layer is `async (call, next) -> Reply`; `compose` binds `next` so a layer never stores its inner handler.
`app.py` builds the list in order, so the whole path of a request reads top to bottom in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.errors import InvalidRequestError
from gateway.providers.base import Provider
from gateway.settings import PROVIDER_KEY_VARS
from gateway.types import ChatCall, Handler, Layer, Reply


def compose(layers: Sequence[Layer], *, terminal: Handler) -> Handler:
    handler = terminal
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Layer, next_handler: Handler) -> Handler:
    async def handle(call: ChatCall) -> Reply:
        return await layer(call, next_handler)

    return handle


class Dispatch:
    """The last step: hand the call to its provider. A provider without a key is a 400 naming the variable."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = providers

    async def __call__(self, call: ChatCall) -> Reply:
        provider = self._providers.get(call.target.provider)
        if provider is None:
            raise unconfigured(call.target.provider, call.target.model)
        return await provider.send(call)


def unconfigured(provider: str, model: str) -> InvalidRequestError:
    variable = PROVIDER_KEY_VARS.get(provider, "MOCK_PROVIDER=true")
    return InvalidRequestError(
        f"The model '{model}' is served by the '{provider}' provider, which is not configured: set {variable}.",
        param="model",
        code="provider_not_configured",
    )
