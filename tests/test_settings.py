from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError, read_dotenv

BASE = {"JWT_SECRET": "s" * 32}


def test_from_env_reads_contract_variables() -> None:
    settings = Settings.from_env(
        {**BASE, "PORT": "8080", "OPENAI_API_KEY": "sk-x", "UPSTREAM_TIMEOUT_S": "30", "FAILOVER_ENABLED": "false"}
    )
    assert (settings.port, settings.upstream_timeout_s, settings.failover_enabled) == (8080, 30.0, False)
    assert settings.provider_configured("openai") and not settings.provider_configured("anthropic")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"UPSTREAM_TIMEOUT_S": "soon"}, "UPSTREAM_TIMEOUT_S"),
        ({"UPSTREAM_TRANSPORT": "curl"}, "UPSTREAM_TRANSPORT"),
        ({"FAILOVER_ENABLED": "maybe"}, "FAILOVER_ENABLED"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL"),
        ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
    ],
)
def test_from_env_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, **env})
    assert str(caught.value).startswith(f"{variable}:")


def test_from_env_refuses_to_start_without_jwt_secret() -> None:
    with pytest.raises(SettingsError, match=r"^JWT_SECRET: not set"):
        Settings.from_env({})


def test_from_env_demo_and_auth_disabled_need_no_secret() -> None:
    assert Settings.from_env({}, demo=True).mock_provider is True
    assert Settings.from_env({"AUTH_DISABLED": "true"}).auth_disabled is True


def test_gateway_config_is_parsed(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[aliases]\n"fast" = "openai/gpt-4o-mini"\n[fallbacks]\n"gpt-4o" = ["claude-sonnet-4-5"]\n')
    settings = Settings.from_env({**BASE, "GATEWAY_CONFIG": str(config)})
    assert settings.config.aliases == {"fast": "openai/gpt-4o-mini"}
    assert settings.config.fallbacks == {"gpt-4o": ("claude-sonnet-4-5",)}


def test_gateway_config_broken_toml_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[aliases\n")
    with pytest.raises(SettingsError, match=r"^GATEWAY_CONFIG: .* is not valid TOML"):
        Settings.from_env({**BASE, "GATEWAY_CONFIG": str(config)})


def test_read_dotenv_handles_comments_quotes_and_export(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# c\nexport A=1\nB='two words'\nC=3 # trailing\n\nD=\n")
    assert read_dotenv(env) == {"A": "1", "B": "two words", "C": "3", "D": ""}


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    key = tmp_path / "openai"
    key.write_text("sk-from-file\n")
    secret = tmp_path / "jwt"
    secret.write_text("s" * 40)
    settings = Settings.from_env({"OPENAI_API_KEY_FILE": str(key), "JWT_SECRET_FILE": str(secret)})
    assert settings.openai_api_key == "sk-from-file" and settings.jwt_secret == "s" * 40
    with pytest.raises(SettingsError, match=r"^ANTHROPIC_API_KEY_FILE: cannot read"):
        Settings.from_env({**BASE, "ANTHROPIC_API_KEY_FILE": str(tmp_path / "missing")})
