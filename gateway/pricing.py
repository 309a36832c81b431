"""What a call costs: the bundled, dated price table (`data/models.json`) plus `GATEWAY_CONFIG` `[prices]`,
and the pure arithmetic that turns a `Usage` into money.

Money is an integer number of **nano-units** (1e-9) of `COST_CURRENCY`, never a float: a million small calls sum
exactly, and even a 5-token embedding (a tenth of a micro-dollar) costs something rather than rounding to zero.
Prices are kept as integer pico-USD per token (USD per million tokens x 10^6), so any price with up to six decimals
per million tokens is exact; one call's cost is rounded half-up to the nano-unit once, at the end.

Cached prompt tokens are priced at `cached_input` (the input price when a model has none). Completion tokens
include reasoning tokens and are priced at `output`. A tier (Gemini and Anthropic long-context prices) applies to
*all* of a call's tokens once its prompt is above the tier's threshold, as the vendors bill it.
A model without a price is `None`: the caller records its tokens and flags it unpriced, never costs it at 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

from gateway.types import Target
from gateway.usage import Usage

NANOS_PER_UNIT = 10**9
PICOS_PER_NANO = 1000
PICOS_PER_MILLION_USD = 10**6  # USD per 1M tokens -> pico-USD per token
PROVIDER_PREFIXES = {"gemini": "google"}
FREE_PROVIDERS = frozenset({"mock"})  # the local fake costs nothing unless [prices."mock/*"] says otherwise


def pico_per_token(usd_per_million: float | int | str | Decimal) -> int:
    """USD per million tokens -> integer pico-USD per token (exact up to six decimals, else rounded half-up)."""
    value = Decimal(str(usd_per_million)) * PICOS_PER_MILLION_USD
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Rate:
    """One price level, in pico-USD per token."""

    input: int
    output: int
    cached_input: int

    @classmethod
    def from_table(cls, entry: Mapping[str, Any]) -> Rate:
        """`{input, output, cached_input?}` in USD per 1M tokens; no cached price: cached tokens cost as input."""
        input_ = pico_per_token(entry["input"])
        cached = entry.get("cached_input")
        return cls(input_, pico_per_token(entry["output"]), input_ if cached is None else pico_per_token(cached))


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices: a base rate and optional tiers `(above_prompt_tokens, rate)`, ascending."""

    base: Rate
    tiers: tuple[tuple[int, Rate], ...] = ()

    def rate_for(self, prompt_tokens: int) -> Rate:
        rate = self.base
        for threshold, tier in self.tiers:
            if prompt_tokens > threshold:
                rate = tier
        return rate

    @classmethod
    def from_table(cls, entry: Mapping[str, Any], tiers: Any = ()) -> Price:
        parsed = [(int(t["above_prompt_tokens"]), Rate.from_table(t)) for t in tiers or ()]
        return cls(Rate.from_table(entry), tuple(sorted(parsed, key=lambda pair: pair[0])))


def cost_picos(price: Price, usage: Usage) -> int:
    """Pure: the call's cost in pico-USD (exact integer)."""
    rate = price.rate_for(usage.prompt_tokens)
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    return (
        (usage.prompt_tokens - cached) * rate.input + cached * rate.cached_input + usage.completion_tokens * rate.output
    )


def format_nanos(nanos: int) -> str:
    """Nano-units -> a plain decimal string without trailing zeros: 1234500 -> "0.0012345", 0 -> "0"."""
    if nanos == 0:  # every cache hit
        return "0"
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), NANOS_PER_UNIT)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return sign + text


def to_nanos(amount: Decimal | float | int | str) -> int:
    """A money amount in currency units -> nano-units (half-up)."""
    return int((Decimal(str(amount)) * NANOS_PER_UNIT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class PriceTable:
    """Prices by `provider/model`. Built once at start-up; lookups are dict hits on the request path.

    `exchange_rate` is units of `COST_CURRENCY` per USD (1 for USD): every cost it returns is in that currency.
    """

    def __init__(
        self,
        prices: Mapping[str, Price],
        *,
        overrides: Mapping[str, Price] | None = None,
        exchange_rate: Decimal = Decimal(1),
        as_of: str = "",
    ) -> None:
        self._prices = dict(prices)
        self._overrides = dict(overrides or {})
        self._rate = exchange_rate
        self._usd = exchange_rate == 1
        self.as_of = as_of

    @classmethod
    def bundled(
        cls, overrides: Mapping[str, Mapping[str, Any]] | None = None, *, exchange_rate: Decimal = Decimal(1)
    ) -> PriceTable:
        """The packaged table, then `[prices."provider/model"]` entries replacing or adding models."""
        text = resources.files("gateway").joinpath("data", "models.json").read_text(encoding="utf-8")
        doc = json.loads(text)
        prices: dict[str, Price] = {}
        for model in doc["models"]:
            if model.get("price") is not None:
                key = f"{model['provider']}/{model['id']}"
                prices[key] = Price.from_table(model["price"], model.get("price_tiers", ()))
        configured = {  # whole entries, checked by settings (CONTRACT §9)
            normalize_key(key): Price.from_table(entry, entry.get("tiers", ()))
            for key, entry in (overrides or {}).items()
        }
        return cls(prices, overrides=configured, exchange_rate=exchange_rate, as_of=doc.get("as_of", ""))

    def price(self, target: Target) -> Price | None:
        """GATEWAY_CONFIG's `provider/model`, then its `provider/*`, then the bundled table."""
        label = target.label
        overrides = self._overrides
        if overrides:
            price = overrides.get(label) or overrides.get(f"{target.provider}/*")
            if price is not None:
                return price
        price = self._prices.get(label)
        if price is None and target.provider in FREE_PROVIDERS:
            price = _FREE
        return price

    def cost_nanos(self, target: Target, usage: Usage) -> int | None:
        """The call's cost in nano-units of the configured currency; None when the model has no price."""
        price = self.price(target)
        if price is None:
            return None
        return self.convert(cost_picos(price, usage))

    def worst_case_nanos(self, target: Target, *, prompt_tokens: int, max_output_tokens: int) -> int | None:
        """What a call can cost at most: every prompt token uncached, every allowed output token produced."""
        price = self.price(target)
        if price is None:
            return None
        return self.convert(cost_picos(price, Usage(prompt_tokens=prompt_tokens, completion_tokens=max_output_tokens)))

    def cost_of(self, target: Target, usage: Usage) -> Decimal | None:
        """The cost as a Decimal in currency units (the metrics layer's `CostOf`)."""
        nanos = self.cost_nanos(target, usage)
        return None if nanos is None else Decimal(nanos).scaleb(-9)

    def convert(self, picos: int) -> int:
        """Pico-USD -> nano-units of the configured currency, rounded half-up."""
        if self._usd:
            return (picos + PICOS_PER_NANO // 2) // PICOS_PER_NANO
        value = Decimal(picos) * self._rate / PICOS_PER_NANO
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def normalize_key(key: str) -> str:
    """`gemini/x` -> `google/x`; other keys unchanged (settings checked that they are `provider/model`)."""
    provider, _, model = key.partition("/")
    return f"{PROVIDER_PREFIXES.get(provider, provider)}/{model}"


_FREE = Price(Rate(0, 0, 0))
