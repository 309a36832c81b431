"""Price arithmetic against figures worked out by hand (USD per 1M tokens -> nano-USD per call)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.pricing import PriceTable, format_nanos, pico_per_token, to_nanos
from gateway.settings import GatewayConfig, Settings, SettingsError
from gateway.types import Target
from gateway.usage import Usage

TABLE = PriceTable.bundled()


def test_pricing_gpt4o_prices_cached_tokens_at_the_cached_rate() -> None:
    # 800 uncached x $2.50 + 200 cached x $1.25 + 500 output x $10.00, per million:
    # 0.002 + 0.00025 + 0.005 = $0.00725
    usage = Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=200)
    assert TABLE.cost_nanos(Target("openai", "gpt-4o"), usage) == 7_250_000


def test_pricing_without_cached_tokens_bills_every_prompt_token_at_input() -> None:
    # 1000 x $2.50 + 500 x $10.00 per million = 0.0025 + 0.005 = $0.0075
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    assert TABLE.cost_nanos(Target("openai", "gpt-4o"), usage) == 7_500_000


def test_pricing_gemini_pro_tier_applies_above_200k_prompt_tokens() -> None:
    pro = Target("google", "gemini-2.5-pro")
    # at the threshold: 200000 x $1.25 + 1000 x $10 = 0.25 + 0.01 = $0.26
    assert TABLE.cost_nanos(pro, Usage(prompt_tokens=200_000, completion_tokens=1000)) == 260_000_000
    # above it every token moves to the tier: 250000 x $2.50 + 1000 x $15 = 0.625 + 0.015 = $0.64
    assert TABLE.cost_nanos(pro, Usage(prompt_tokens=250_000, completion_tokens=1000)) == 640_000_000
    # tier cached price: 50000 cached x $0.25 + 200001 x $2.50 = 0.0125 + 0.5000025 = $0.5125025
    usage = Usage(prompt_tokens=250_001, completion_tokens=0, cached_tokens=50_000)
    assert TABLE.cost_nanos(pro, usage) == 512_502_500


def test_pricing_small_embedding_costs_a_fraction_of_a_micro_dollar() -> None:
    # 5 tokens x $0.02 per million = $0.0000001 = 100 nano-USD (a micro-unit ledger would say 0)
    assert TABLE.cost_nanos(Target("openai", "text-embedding-3-small"), Usage(prompt_tokens=5)) == 100


def test_pricing_unknown_model_is_unpriced_not_free() -> None:
    assert TABLE.cost_nanos(Target("openai", "gpt-9-imaginary"), Usage(prompt_tokens=10)) is None


def test_pricing_mock_is_free_unless_configured() -> None:
    assert TABLE.cost_nanos(Target("mock", "anything"), Usage(prompt_tokens=10, completion_tokens=10)) == 0
    table = PriceTable.bundled({"mock/*": {"input": 1.0, "output": 2.0}})
    # 10 x $1 + 10 x $2 per million = $0.00003
    assert table.cost_nanos(Target("mock", "anything"), Usage(prompt_tokens=10, completion_tokens=10)) == 30_000


def test_pricing_config_overrides_and_extends_the_table() -> None:
    table = PriceTable.bundled(
        {
            "openai/gpt-4o": {"input": 3.0, "output": 12.0, "cached_input": 1.5},
            "gemini/my-tuned": {"input": 0.5, "output": 1.0},
        }
    )
    # 1000 x $3 + 500 x $12 = 0.003 + 0.006 = $0.009
    assert table.cost_nanos(Target("openai", "gpt-4o"), Usage(prompt_tokens=1000, completion_tokens=500)) == 9_000_000
    # `gemini/` means google; no cached price: cached tokens cost what input costs
    usage = Usage(prompt_tokens=1000, completion_tokens=1000, cached_tokens=1000)
    assert table.cost_nanos(Target("google", "my-tuned"), usage) == 1_500_000


def test_pricing_exchange_rate_converts_every_cost() -> None:
    table = PriceTable.bundled(exchange_rate=Decimal("0.92"))
    # $0.00725 x 0.92 = 0.00667 EUR
    usage = Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=200)
    assert table.cost_nanos(Target("openai", "gpt-4o"), usage) == 6_670_000


def test_pricing_a_million_small_calls_sum_without_drift() -> None:
    # gpt-4o-mini: 10 x $0.15 + 5 x $0.60 per million = 4.5 micro-USD a call; a million calls = $4.50 exactly
    target, usage = Target("openai", "gpt-4o-mini"), Usage(prompt_tokens=10, completion_tokens=5)
    total = 0
    floats = 0.0
    for _ in range(1_000_000):
        nanos = TABLE.cost_nanos(target, usage)
        assert nanos is not None
        total += nanos
        floats += nanos / 1e9
    assert total == 4_500_000_000
    assert format_nanos(total) == "4.5"
    assert floats != 4.5  # what summing floats would have recorded


def test_pricing_worst_case_counts_every_allowed_output_token() -> None:
    # 100 x $2.50 + 1000 x $10 per million = 0.00025 + 0.01 = $0.01025
    worst = TABLE.worst_case_nanos(Target("openai", "gpt-4o"), prompt_tokens=100, max_output_tokens=1000)
    assert worst == 10_250_000


@pytest.mark.parametrize(
    ("nanos", "text"),
    [(0, "0"), (1, "0.000000001"), (7_250_000, "0.00725"), (1_000_000_000, "1"), (12_345_000_000_000, "12345")],
)
def test_pricing_format_nanos_is_a_plain_decimal(nanos: int, text: str) -> None:
    assert format_nanos(nanos) == text
    assert to_nanos(text) == nanos


def test_pricing_prices_with_six_decimals_are_exact() -> None:
    assert pico_per_token(0.005) == 5000
    assert pico_per_token("0.0375") == 37_500
    assert pico_per_token("1.234567") == 1_234_567


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"gpt-4o": {"input": 1, "output": 2}}, "provider/model"),
        ({"openai/gpt-4o": {"input": 1}}, "give both input and output"),
        ({"openai/gpt-4o": {"input": -1, "output": 2}}, "input must be a number"),
        ({"openai/gpt-4o": {"input": 1, "output": 2, "cache": 1}}, "unknown key"),
        ({"openai/x": {"input": 1, "output": 2, "tiers": [{"input": 2, "output": 3}]}}, "above_prompt_tokens"),
    ],
)
def test_pricing_bad_config_prices_stop_the_start(prices: dict[str, dict[str, object]], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings(jwt_secret="x" * 32, config=GatewayConfig(prices=prices))._check()  # type: ignore[arg-type]
    assert str(caught.value).startswith("GATEWAY_CONFIG")
