"""Cache settings: parsing, defaults, and bad values that stop the start naming the variable."""

from __future__ import annotations

import pytest

from gateway.settings import Settings, SettingsError

BASE = {"JWT_SECRET": "s" * 32}


def test_cache_settings_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.cache_enabled and settings.cache_ttl == 3600 and settings.cache_max_size == 1000
    assert (settings.cache_mode, settings.cache_scope, settings.cache_policy) == ("memory", "user", "deterministic")


def test_cache_settings_default_strategy_is_hybrid_with_redis() -> None:
    assert Settings.from_env({**BASE, "REDIS_URL": "redis://127.0.0.1:6379/0"}).cache_mode == "hybrid"


def test_cache_settings_parse_every_variable() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "CACHE_ENABLED": "false",
            "CACHE_TTL": "60",
            "CACHE_MAX_SIZE": "50",
            "CACHE_MAX_BYTES": "2048",
            "CACHE_STRATEGY": "Memory",
            "CACHE_SCOPE": "global",
            "CACHE_POLICY": "all",
            "CACHE_PREFIX": "gw2:cache:",
        }
    )
    assert not settings.cache_enabled and settings.cache_ttl == 60.0
    assert (settings.cache_max_size, settings.cache_max_bytes) == (50, 2048)
    assert (settings.cache_mode, settings.cache_scope, settings.cache_policy) == ("memory", "global", "all")
    assert settings.cache_prefix == "gw2:cache:"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CACHE_ENABLED": "maybe"}, "CACHE_ENABLED"),
        ({"CACHE_TTL": "an hour"}, "CACHE_TTL"),
        ({"CACHE_TTL": "0"}, "CACHE_TTL"),
        ({"CACHE_MAX_SIZE": "1e3"}, "CACHE_MAX_SIZE"),
        ({"CACHE_MAX_SIZE": "0"}, "CACHE_MAX_SIZE"),
        ({"CACHE_MAX_BYTES": "10"}, "CACHE_MAX_BYTES"),
        ({"CACHE_STRATEGY": "disk"}, "CACHE_STRATEGY"),
        ({"CACHE_STRATEGY": "redis"}, "CACHE_STRATEGY"),  # without REDIS_URL
        ({"CACHE_STRATEGY": "hybrid"}, "CACHE_STRATEGY"),
        ({"CACHE_SCOPE": "team"}, "CACHE_SCOPE"),
        ({"CACHE_POLICY": "sometimes"}, "CACHE_POLICY"),
        ({"CACHE_PREFIX": "a b*"}, "CACHE_PREFIX"),
    ],
)
def test_cache_settings_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}:"):
        Settings.from_env({**BASE, **env})


def test_cache_settings_redis_strategy_needs_redis_only_when_enabled() -> None:
    assert Settings.from_env({**BASE, "CACHE_STRATEGY": "redis", "CACHE_ENABLED": "false"}).cache_strategy == "redis"
