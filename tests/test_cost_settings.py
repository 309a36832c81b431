"""Cost settings: each bad value stops the start with one line naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.settings import Settings, SettingsError

BASE = {"JWT_SECRET": "s" * 32}


def test_cost_settings_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.cost_tracking_enabled and settings.cost_currency == "USD"
    assert settings.cost_db_path == "./data/costs.db" and settings.cost_store == "sqlite"
    assert settings.cost_budget_daily is None and settings.cost_alert_threshold == 0.8


def test_cost_settings_parse_money_exactly() -> None:
    settings = Settings.from_env({**BASE, "COST_BUDGET_DAILY": "5.10", "COST_BUDGET_MONTHLY": "100"})
    assert settings.cost_budget_daily == Decimal("5.10") and settings.cost_budget_monthly == Decimal(100)


def test_cost_settings_other_currency_with_a_rate() -> None:
    settings = Settings.from_env({**BASE, "COST_CURRENCY": "eur", "COST_EXCHANGE_RATE": "0.92"})
    assert settings.cost_currency == "EUR" and settings.cost_exchange_rate == Decimal("0.92")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"COST_CURRENCY": "EUR"}, "COST_CURRENCY: EUR needs COST_EXCHANGE_RATE"),
        ({"COST_CURRENCY": "euros"}, "COST_CURRENCY"),
        ({"COST_BUDGET_DAILY": "ten"}, "COST_BUDGET_DAILY"),
        ({"COST_BUDGET_MONTHLY": "-3"}, "COST_BUDGET_MONTHLY"),
        ({"COST_ALERT_THRESHOLD": "1.5"}, "COST_ALERT_THRESHOLD"),
        ({"COST_TIMEZONE": "Moon/Base"}, "COST_TIMEZONE"),
        ({"COST_STORE": "postgres"}, "COST_STORE"),
        ({"COST_STORE": "redis"}, "COST_STORE: 'redis' needs REDIS_URL"),
        ({"COST_ALERT_EMAIL": "ops@example.com"}, "COST_ALERT_EMAIL: needs SMTP_URL"),
        ({"SMTP_URL": "mail.example.com"}, "SMTP_URL"),
        ({"COST_ALERT_WEBHOOK": "ftp://x"}, "COST_ALERT_WEBHOOK"),
        ({"COST_TRACKING_ENABLED": "false", "COST_BUDGET_DAILY": "5"}, "COST_TRACKING_ENABLED"),
        ({"WORKERS": "4", "COST_BUDGET_DAILY": "5"}, "REDIS_URL: budgets with WORKERS > 1"),
    ],
)
def test_cost_settings_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, **env})
    assert str(caught.value).startswith(variable)
    assert "\n" not in str(caught.value)
