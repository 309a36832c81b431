"""The rate-limit variables: defaults, parsing, and one clear line naming the variable on a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError

BASE = {"JWT_SECRET": "x" * 32}


def test_settings_rate_limit_defaults() -> None:
    s = Settings.from_env(BASE)
    assert (s.rate_limit_max_requests, s.rate_limit_window_ms) == (1000, 900_000)
    assert (s.llm_rate_limit_max_requests, s.llm_rate_limit_window_ms) == (60, 60_000)
    assert (s.rate_limit_store, s.rate_limit_fail, s.trusted_proxies) == (None, "open", ())


def test_settings_rate_limit_values_are_read() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "RATE_LIMIT_MAX_REQUESTS": "0",
            "LLM_RATE_LIMIT_WINDOW_MS": "1000",
            "RATE_LIMIT_STORE": "Memory",
            "RATE_LIMIT_FAIL": "closed",
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1 ,::1",
        }
    )
    assert s.rate_limit_max_requests == 0 and s.llm_rate_limit_window_ms == 1000
    assert (s.rate_limit_store, s.rate_limit_fail) == ("memory", "closed")
    assert s.trusted_proxies == ("10.0.0.0/8", "192.168.1.1", "::1")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RATE_LIMIT_WINDOW_MS": "15min"}, "RATE_LIMIT_WINDOW_MS"),
        ({"RATE_LIMIT_WINDOW_MS": "0"}, "RATE_LIMIT_WINDOW_MS"),
        ({"LLM_RATE_LIMIT_MAX_REQUESTS": "-1"}, "LLM_RATE_LIMIT_MAX_REQUESTS"),
        ({"RATE_LIMIT_STORE": "postgres"}, "RATE_LIMIT_STORE"),
        ({"RATE_LIMIT_STORE": "redis"}, "RATE_LIMIT_STORE"),  # without REDIS_URL
        ({"RATE_LIMIT_FAIL": "sometimes"}, "RATE_LIMIT_FAIL"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "TRUSTED_PROXIES"),
    ],
)
def test_settings_bad_rate_limit_value_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env({**BASE, **env})


@pytest.mark.parametrize(
    "toml",
    [
        '[providers.openai]\nrpm = "lots"\n',
        "[providers.openai]\ntpm = 0\n",
        '[providers.openai.models."gpt-4o"]\nrpm = 1.5\n',
        '[users."alice"]\ntpm = -5\n',
    ],
)
def test_settings_bad_caps_in_gateway_config_are_refused(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError, match=r"^GATEWAY_CONFIG: "):
        Settings.from_env({**BASE, "GATEWAY_CONFIG": str(path)})


def test_settings_caps_in_gateway_config_are_read(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[providers.openai]\nrpm = 500\n[providers.openai.models."gpt-4o"]\ntpm = 30000\n')
    s = Settings.from_env({**BASE, "GATEWAY_CONFIG": str(path)})
    assert s.config.providers["openai"]["models"]["gpt-4o"]["tpm"] == 30000
