"""All configuration, read once from the environment (and `.env`, and the `GATEWAY_CONFIG` TOML file).

This is the only module that knows variable names. `Settings.from_env(environ)` validates everything at
start-up and raises `SettingsError` with one line naming the variable; tests build `Settings(...)` directly.
A missing vendor key disables that provider; it never stops the gateway (CONTRACT §2).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

PROVIDER_KEY_VARS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GOOGLE_API_KEY",
}


class SettingsError(ValueError):
    """A bad setting; the message starts with the variable's name."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The parsed `GATEWAY_CONFIG` file (CONTRACT §9): tables that environment variables express badly."""

    aliases: Mapping[str, str] = field(default_factory=dict)
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    users: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> GatewayConfig:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"GATEWAY_CONFIG: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"GATEWAY_CONFIG: {path} is not valid TOML: {exc}") from None
        unknown = set(data) - {"aliases", "fallbacks", "prices", "providers", "users"}
        if unknown:
            raise SettingsError(f"GATEWAY_CONFIG: unknown table(s) {sorted(unknown)} in {path}")
        aliases = data.get("aliases", {})
        if not all(isinstance(v, str) for v in aliases.values()):
            raise SettingsError("GATEWAY_CONFIG: [aliases] values must be model names (strings)")
        fallbacks = data.get("fallbacks", {})
        if not all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in fallbacks.values()):
            raise SettingsError("GATEWAY_CONFIG: [fallbacks] values must be lists of model names")
        for section in ("prices", "providers", "users"):
            if not all(isinstance(v, dict) for v in data.get(section, {}).values()):
                raise SettingsError(f"GATEWAY_CONFIG: [{section}] entries must be tables")
        return cls(
            aliases=dict(aliases),
            fallbacks={k: tuple(v) for k, v in fallbacks.items()},
            prices=data.get("prices", {}),
            providers=data.get("providers", {}),
            users=data.get("users", {}),
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """One of several deployments of a provider (`[[providers.<name>.deployments]]`): its own URL and key."""

    base_url: str
    api_key: str
    weight: int = 1


def read_deployments(config: GatewayConfig, environ: Mapping[str, str]) -> dict[str, tuple[Deployment, ...]]:
    """Deployments per provider; each key is read from the variable its `api_key_env` names."""
    found: dict[str, tuple[Deployment, ...]] = {}
    for name, table in config.providers.items():
        entries = table.get("deployments")
        if entries is None:
            continue
        where = f"GATEWAY_CONFIG: [[providers.{name}.deployments]]"
        if name not in PROVIDER_KEY_VARS or not isinstance(entries, list) or not entries:
            raise SettingsError(f"{where} must be a non-empty list for openai, anthropic or google")
        deployments = []
        for entry in entries:
            url, key_env, weight = entry.get("base_url"), entry.get("api_key_env"), entry.get("weight", 1)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise SettingsError(f"{where} base_url must be an http(s) URL, not {url!r}")
            if not isinstance(key_env, str) or not environ.get(key_env):
                raise SettingsError(f"{where} api_key_env {key_env!r} names no variable with a key")
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
                raise SettingsError(f"{where} weight must be a positive whole number, not {weight!r}")
            deployments.append(Deployment(url, environ[key_env], weight))
        found[name] = tuple(deployments)
    return found


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the gateway reads. Field names are the variable names in lower case."""

    # listening
    host: str = "127.0.0.1"
    port: int = 3007
    workers: int = 1
    shutdown_grace_s: float = 20.0
    # vendors
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    google_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    google_base_url: str = "https://generativelanguage.googleapis.com"
    mock_provider: bool = False
    mock_stream_delay_ms: float = 20.0
    upstream_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    upstream_timeout_s: float = 600.0
    upstream_connect_timeout_s: float = 10.0
    upstream_first_byte_timeout_s: float | None = None  # unset: the total timeout bounds the first byte too
    upstream_max_connections: int = 2048  # per provider: 1,000 concurrent slow streams must not queue (bench)
    failover_enabled: bool = True
    # failover, retries and circuit breakers (gateway/layers/failover.py), batch (gateway/batch.py)
    retry_max_attempts: int = 3  # attempts per model, the first included; 1 = no retries
    retry_base_delay_ms: float = 250.0  # backoff ceiling before the first retry, doubled per retry (full jitter)
    retry_max_delay_ms: float = 8000.0  # the longest wait, a vendor's retry-after included (longer: next model)
    retry_deadline_s: float = 60.0  # no retry or fallback starts later than this after the call began
    circuit_failure_threshold: int = 5  # consecutive failures that open a circuit
    circuit_cooldown_s: float = 30.0  # an open circuit lets one probe through after this long
    stream_idle_timeout_s: float = 120.0  # a stream silent this long fails with an error event; 0: never
    batch_max_size: int = 100  # requests per POST /api/llm/batch
    batch_max_concurrency: int = 8  # items of one parallel batch in flight at once
    # auth
    jwt_secret: str | None = None
    auth_disabled: bool = False
    jwt_issuer: str | None = None  # when set, tokens must carry this `iss`
    jwt_audience: str | None = None  # when set, tokens must carry this `aud`
    jwt_leeway_s: float = 5.0  # clock skew allowed on exp/nbf
    jwt_public_key: str | None = None  # PEM (or a path to one) for RS256/ES256 tokens, besides HS256
    jwt_jwks_url: str | None = None  # or a JWKS URL for RS256/ES256 keys, fetched through the SSRF guard
    jwt_jwks_cache_s: float = 600.0
    # shared store
    redis_url: str | None = None
    # response cache (gateway/layers/cache.py); false: the layer is not in the pipeline at all
    cache_enabled: bool = True
    cache_ttl: float = 3600.0  # seconds an entry lives
    cache_max_size: int = 1000  # entries in the memory tier
    cache_max_bytes: int = 64 * 1024 * 1024  # bytes (keys + bodies) in the memory tier
    cache_strategy: Literal["memory", "redis", "hybrid"] | None = None  # None: hybrid with REDIS_URL, else memory
    cache_scope: Literal["user", "global"] = "user"  # user: one user's answers are never served to another
    cache_policy: Literal["deterministic", "all"] = "deterministic"  # deterministic: temperature 0 or a seed
    cache_prefix: str = "llmgw:cache:"  # Redis key prefix (gateways sharing a Redis keep apart by it)
    # rate limits (CONTRACT §2; 0 requests turns a limit off). Windows are GCRA buckets: a burst of up to the
    # maximum, refilled evenly over the window, no fixed boundary.
    rate_limit_window_ms: int = 900_000
    rate_limit_max_requests: int = 1000
    llm_rate_limit_window_ms: int = 60_000
    llm_rate_limit_max_requests: int = 60
    rate_limit_store: Literal["memory", "redis"] | None = None  # None: redis when REDIS_URL is set
    rate_limit_fail: Literal["open", "closed"] = "open"
    rate_limit_prefix: str = "llmgw:rl:"
    trusted_proxies: tuple[str, ...] = ()
    # costs, budgets and alerts (gateway/costs.py); money amounts are in COST_CURRENCY
    cost_tracking_enabled: bool = True
    cost_currency: str = "USD"
    cost_exchange_rate: Decimal | None = None  # COST_CURRENCY per 1 USD; required unless the currency is USD
    cost_budget_daily: Decimal | None = None  # unset: no gateway-wide daily cap
    cost_budget_monthly: Decimal | None = None
    cost_alert_threshold: float = 0.8  # fraction of a budget that fires an alert; 0: only when used up
    cost_alert_email: str | None = None
    cost_alert_webhook: str | None = None
    smtp_url: str | None = None  # smtp://[user:pass@]host[:port][?starttls=true&from=addr] or smtps://
    cost_db_path: str = "./data/costs.db"  # the SQLite ledger; ":memory:" keeps it in memory
    cost_store: Literal["sqlite", "redis"] = "sqlite"
    cost_prefix: str = "llmgw:costs:"  # Redis key prefix of the shared ledger, budgets and alert claims
    cost_timezone: str = "UTC"  # where budget days and months begin
    # HTTP edge
    max_body_bytes: int = 10 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    cors_allow_credentials: bool = False
    hsts: bool = False  # send Strict-Transport-Security (only behind TLS)
    body_read_timeout_s: float = 30.0  # a client that sends its body slower than this gets 408
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    # fetching caller-given URLs (gateway/fetch.py; Gemini image URLs): non-public addresses are refused unless
    # allowed here; cloud metadata addresses are refused always
    fetch_allow_private: bool = False
    fetch_allowed_networks: tuple[str, ...] = ()
    image_fetch_max_bytes: int = 20 * 1024 * 1024
    image_fetch_timeout_s: float = 15.0
    # logs
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_dir: str | None = None
    log_prompts: bool = False
    log_max_bytes: int = 10 * 1024 * 1024  # LOG_DIR files rotate past this size
    log_backups: int = 5  # rotated files kept per LOG_DIR file
    # metrics (gateway/metrics.py): label caps keep the series count bounded
    metrics_max_users: int = 100  # distinct `user` values on llm_cost_total; later users are `other`
    metrics_max_models: int = 200  # distinct `model` values; later models are `other`
    metrics_log_interval_s: float = 60.0  # a summary line on gateway.metrics (metrics.log) this often; 0: never
    prometheus_multiproc_dir: str | None = None  # set by `llm-gateway` when WORKERS > 1 (multiprocess mode)
    # tables from GATEWAY_CONFIG
    gateway_config: str | None = None
    config: GatewayConfig = field(default_factory=GatewayConfig)
    deployments: Mapping[str, tuple[Deployment, ...]] = field(default_factory=dict)
    demo: bool = False

    def provider_key(self, provider: str) -> str | None:
        """The vendor API key, or None when the provider is not configured."""
        return {
            "openai": self.openai_api_key,
            "anthropic": self.anthropic_api_key,
            "google": self.google_api_key,
        }.get(provider)

    def provider_configured(self, provider: str) -> bool:
        if provider == "mock":
            return self.mock_provider
        return bool(self.provider_key(provider)) or bool(self.deployments.get(provider))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, demo: bool = False) -> Settings:
        """Read and validate every variable; `SettingsError` names the first bad one."""
        values: dict[str, Any] = {}
        environ = _with_secret_files(environ)
        for f in fields(cls):
            if f.name in ("config", "demo", "deployments"):
                continue
            var = f.name.upper()
            raw = environ.get(var)
            if raw is None or (raw == "" and f.default is None):
                continue
            values[f.name] = _parse(var, raw.strip(), _PARSERS.get(f.name, _as_str))
        if values.get("gateway_config"):
            values["config"] = GatewayConfig.load(values["gateway_config"])
            values["deployments"] = read_deployments(values["config"], environ)
        if demo:
            values["mock_provider"] = True
        settings = cls(demo=demo, **values)
        settings._check()
        return settings

    def _check(self) -> None:
        if not (1 <= self.port <= 65535):
            raise SettingsError(f"PORT: {self.port} is not a TCP port (1..65535)")
        if self.workers < 1:
            raise SettingsError("WORKERS: must be at least 1")
        if self.max_body_bytes < 1024:
            raise SettingsError("MAX_BODY_BYTES: must be at least 1024")
        for var, value in (
            ("UPSTREAM_TIMEOUT_S", self.upstream_timeout_s),
            ("UPSTREAM_CONNECT_TIMEOUT_S", self.upstream_connect_timeout_s),
        ):
            if value <= 0:
                raise SettingsError(f"{var}: must be a positive number of seconds")
        for var, url in (
            ("OPENAI_BASE_URL", self.openai_base_url),
            ("ANTHROPIC_BASE_URL", self.anthropic_base_url),
            ("GOOGLE_BASE_URL", self.google_base_url),
        ):
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"{var}: {url!r} is not an http(s) URL")
        if not self.jwt_secret and not self.demo and not self.auth_disabled:
            raise SettingsError(
                "JWT_SECRET: not set. Set JWT_SECRET (32+ random bytes), or run `llm-gateway --demo`, "
                "or AUTH_DISABLED=true for local development only"
            )
        if self.jwt_public_key and "BEGIN" not in self.jwt_public_key and not Path(self.jwt_public_key).is_file():
            raise SettingsError("JWT_PUBLIC_KEY: neither a PEM public key nor a readable file")
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith(("http://", "https://")):
            raise SettingsError(f"JWT_JWKS_URL: {self.jwt_jwks_url!r} is not an http(s) URL")
        if self.jwt_leeway_s < 0:
            raise SettingsError("JWT_LEEWAY_S: must not be negative")
        if self.body_read_timeout_s <= 0:
            raise SettingsError("BODY_READ_TIMEOUT_S: must be a positive number of seconds")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise SettingsError(
                "CORS_ALLOW_CREDENTIALS: credentials cannot be allowed for every origin (CORS_ORIGINS=*)"
            )
        if self.jwt_secret and len(self.jwt_secret) < 16 and not self.demo:
            raise SettingsError("JWT_SECRET: too short for HS256; use at least 32 random characters")
        self._check_rate_limits()
        self._check_cache()
        self._check_observability()
        self._check_failover()
        self._check_costs()

    def _check_observability(self) -> None:
        if self.log_max_bytes < 1024:
            raise SettingsError("LOG_MAX_BYTES: must be at least 1024")
        if self.log_backups < 0:
            raise SettingsError("LOG_BACKUPS: must be 0 or more")
        for var, value in (
            ("METRICS_MAX_USERS", self.metrics_max_users),
            ("METRICS_MAX_MODELS", self.metrics_max_models),
        ):
            if value < 1:
                raise SettingsError(f"{var}: must be at least 1")
        if self.metrics_log_interval_s < 0:
            raise SettingsError("METRICS_LOG_INTERVAL_S: must be 0 (off) or a positive number of seconds")

    def _check_failover(self) -> None:
        for var, number in (
            ("RETRY_MAX_ATTEMPTS", self.retry_max_attempts),
            ("CIRCUIT_FAILURE_THRESHOLD", self.circuit_failure_threshold),
            ("BATCH_MAX_SIZE", self.batch_max_size),
            ("BATCH_MAX_CONCURRENCY", self.batch_max_concurrency),
        ):
            if number < 1:
                raise SettingsError(f"{var}: must be at least 1")
        for var, value in (
            ("RETRY_BASE_DELAY_MS", self.retry_base_delay_ms),
            ("RETRY_MAX_DELAY_MS", self.retry_max_delay_ms),
            ("STREAM_IDLE_TIMEOUT_S", self.stream_idle_timeout_s),
        ):
            if value < 0:
                raise SettingsError(f"{var}: must be 0 or a positive number")
        for var, value in (
            ("RETRY_DEADLINE_S", self.retry_deadline_s),
            ("CIRCUIT_COOLDOWN_S", self.circuit_cooldown_s),
        ):
            if value <= 0:
                raise SettingsError(f"{var}: must be a positive number of seconds")

    def _check_costs(self) -> None:
        if self.cost_currency != "USD" and self.cost_exchange_rate is None:
            raise SettingsError(
                f"COST_CURRENCY: {self.cost_currency} needs COST_EXCHANGE_RATE ({self.cost_currency} per 1 USD, "
                "e.g. 0.92); vendor prices are in USD"
            )
        if not 0 <= self.cost_alert_threshold <= 1:
            raise SettingsError("COST_ALERT_THRESHOLD: must be a fraction from 0 to 1 (0.8 = 80% of a budget)")
        if self.cost_store == "redis" and not self.redis_url:
            raise SettingsError("COST_STORE: 'redis' needs REDIS_URL")
        if not re.fullmatch(r"[A-Za-z0-9:._-]+", self.cost_prefix):
            raise SettingsError("COST_PREFIX: use only letters, digits and : . _ -")
        if self.cost_alert_email and not self.smtp_url:
            raise SettingsError("COST_ALERT_EMAIL: needs SMTP_URL (smtp://host:port) to send the alerts")
        if self.smtp_url and not re.match(r"smtps?://[^/?#]+", self.smtp_url):
            raise SettingsError("SMTP_URL: must look like smtp://[user:pass@]host[:port] or smtps://host[:port]")
        if self.cost_alert_webhook and not self.cost_alert_webhook.startswith(("http://", "https://")):
            raise SettingsError(f"COST_ALERT_WEBHOOK: {self.cost_alert_webhook!r} is not an http(s) URL")
        for key, table in self.config.prices.items():
            _check_price(key, table)
        user_budgets = False
        for user, table in self.config.users.items():
            for name in ("budget_daily", "budget_monthly"):
                value = table.get(name)
                if value is None:
                    continue
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    raise SettingsError(f'GATEWAY_CONFIG: [users."{user}"] {name} must be a positive amount')
                user_budgets = True
        budgets = bool(self.cost_budget_daily or self.cost_budget_monthly or user_budgets)
        if budgets and not self.cost_tracking_enabled:
            raise SettingsError("COST_TRACKING_ENABLED: budgets are set, and they need cost tracking (true)")
        if budgets and self.workers > 1 and not self.redis_url:
            raise SettingsError(
                "REDIS_URL: budgets with WORKERS > 1 need one shared figure in Redis: set REDIS_URL, or run WORKERS=1"
            )

    @property
    def cache_mode(self) -> Literal["memory", "redis", "hybrid"]:
        """CACHE_STRATEGY, or its default: hybrid when REDIS_URL is set (memory in the demo), else memory."""
        if self.cache_strategy is not None:
            return self.cache_strategy
        return "hybrid" if self.redis_url and not self.demo else "memory"

    def _check_cache(self) -> None:
        if self.cache_ttl <= 0:
            raise SettingsError("CACHE_TTL: must be a positive number of seconds")
        if self.cache_max_size < 1:
            raise SettingsError("CACHE_MAX_SIZE: must be at least 1 entry")
        if self.cache_max_bytes < 1024:
            raise SettingsError("CACHE_MAX_BYTES: must be at least 1024")
        if self.cache_enabled and self.cache_strategy in ("redis", "hybrid") and not self.redis_url:
            raise SettingsError(f"CACHE_STRATEGY: {self.cache_strategy} needs REDIS_URL to be set")
        if not re.fullmatch(r"[A-Za-z0-9:._-]+", self.cache_prefix):
            raise SettingsError("CACHE_PREFIX: use only letters, digits and : . _ -")

    def _check_rate_limits(self) -> None:
        for var, value in (
            ("RATE_LIMIT_WINDOW_MS", self.rate_limit_window_ms),
            ("LLM_RATE_LIMIT_WINDOW_MS", self.llm_rate_limit_window_ms),
        ):
            if value < 1:
                raise SettingsError(f"{var}: must be a positive number of milliseconds")
        for var, value in (
            ("RATE_LIMIT_MAX_REQUESTS", self.rate_limit_max_requests),
            ("LLM_RATE_LIMIT_MAX_REQUESTS", self.llm_rate_limit_max_requests),
        ):
            if value < 0:
                raise SettingsError(f"{var}: must be 0 (no limit) or a positive whole number")
        if self.rate_limit_store == "redis" and not self.redis_url:
            raise SettingsError("RATE_LIMIT_STORE: 'redis' needs REDIS_URL")
        if self.upstream_first_byte_timeout_s is not None and self.upstream_first_byte_timeout_s <= 0:
            raise SettingsError("UPSTREAM_FIRST_BYTE_TIMEOUT_S: must be a positive number of seconds")
        for name, table in self.config.providers.items():
            _check_caps(f"[providers.{name}]", table, ("rpm", "tpm"))
            for key in ("timeout_s", "connect_timeout_s", "first_byte_timeout_s"):
                seconds = table.get(key)
                if seconds is not None and (
                    isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0
                ):
                    raise SettingsError(f"GATEWAY_CONFIG: [providers.{name}] {key} must be a positive number")
            models = table.get("models", {})
            if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
                raise SettingsError(f"GATEWAY_CONFIG: [providers.{name}.models] entries must be tables")
            for model, caps in models.items():
                _check_caps(f'[providers.{name}.models."{model}"]', caps, ("rpm", "tpm"))
        for user, table in self.config.users.items():
            _check_caps(f'[users."{user}"]', table, ("tpm",))


PRICE_KEYS = frozenset({"input", "output", "cached_input"})


def _check_price(key: str, table: Mapping[str, Any]) -> None:
    """A `[prices."provider/model"]` entry: USD per 1M tokens, input and output required (CONTRACT §9)."""
    where = f'GATEWAY_CONFIG: [prices."{key}"]'
    provider, slash, model = key.partition("/")
    if not slash or not provider or not model:
        raise SettingsError(f'{where}: name the model as provider/model, e.g. "openai/gpt-4o"')
    unknown = set(table) - PRICE_KEYS - {"tiers"}
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {sorted(unknown)}; use input, output, cached_input, tiers")
    if "input" not in table or "output" not in table:
        raise SettingsError(f"{where}: give both input and output (USD per million tokens)")
    tiers = table.get("tiers", [])
    if not isinstance(tiers, list) or not all(isinstance(t, dict) for t in tiers):
        raise SettingsError(f"{where}: tiers must be a list of tables")
    for entry in [table, *tiers]:
        for name in PRICE_KEYS & set(entry):
            value = entry[name]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise SettingsError(f"{where}: {name} must be a number of USD per million tokens, not {value!r}")
    for tier in tiers:
        above = tier.get("above_prompt_tokens")
        if not isinstance(above, int) or isinstance(above, bool) or above < 1:
            raise SettingsError(f"{where}: each tier needs above_prompt_tokens, a positive whole number")
        if "input" not in tier or "output" not in tier:
            raise SettingsError(f"{where}: each tier needs input and output")


def _check_caps(where: str, table: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = table.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise SettingsError(f"GATEWAY_CONFIG: {where} {name} must be a positive whole number, not {value!r}")


SECRET_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "JWT_SECRET")


def _with_secret_files(environ: Mapping[str, str]) -> Mapping[str, str]:
    """`<VAR>_FILE` names a file holding a secret (Docker and Kubernetes secrets); the variable itself wins."""
    files = {var: environ[f"{var}_FILE"] for var in SECRET_VARS if environ.get(f"{var}_FILE") and not environ.get(var)}
    if not files:
        return environ
    merged = dict(environ)
    for var, path in files.items():
        try:
            merged[var] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{var}_FILE: cannot read {path}: {exc.strerror}") from None
    return merged


def _parse(var: str, raw: str, parser: Callable[[str], Any]) -> Any:
    try:
        return parser(raw)
    except ValueError as exc:
        raise SettingsError(f"{var}: {exc}") from None


def _as_str(raw: str) -> str:
    return raw


def _as_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None


def _as_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _as_money(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not an amount of money") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{raw!r} must be a positive amount (leave it empty for none)")
    return value


def _as_currency(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise ValueError(f"{raw!r} is not a three-letter currency code such as USD or EUR")
    return raw.upper()


def _as_timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{raw!r} is not a time zone name such as UTC or Europe/Paris") from None
    return raw


def _as_bool(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{raw!r} is not a boolean (use true or false)")


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        word = raw.lower()
        if word not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return word

    return parse


def _as_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _as_networks(raw: str) -> tuple[str, ...]:
    """Comma-separated IPs or CIDRs, each checked (`10.0.0.0/8`, `127.0.0.1`, `::1`)."""
    parts = _as_list(raw)
    for part in parts:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return parts


_PARSERS: dict[str, Callable[[str], Any]] = {
    "port": _as_int,
    "workers": _as_int,
    "shutdown_grace_s": _as_float,
    "mock_provider": _as_bool,
    "mock_stream_delay_ms": _as_float,
    "upstream_transport": _one_of("aiohttp", "httpx"),
    "upstream_timeout_s": _as_float,
    "upstream_connect_timeout_s": _as_float,
    "upstream_first_byte_timeout_s": _as_float,
    "upstream_max_connections": _as_int,
    "failover_enabled": _as_bool,
    "retry_max_attempts": _as_int,
    "retry_base_delay_ms": _as_float,
    "retry_max_delay_ms": _as_float,
    "retry_deadline_s": _as_float,
    "circuit_failure_threshold": _as_int,
    "circuit_cooldown_s": _as_float,
    "stream_idle_timeout_s": _as_float,
    "batch_max_size": _as_int,
    "batch_max_concurrency": _as_int,
    "cache_enabled": _as_bool,
    "cache_ttl": _as_float,
    "cache_max_size": _as_int,
    "cache_max_bytes": _as_int,
    "cache_strategy": _one_of("memory", "redis", "hybrid"),
    "cache_scope": _one_of("user", "global"),
    "cache_policy": _one_of("deterministic", "all"),
    "auth_disabled": _as_bool,
    "max_body_bytes": _as_int,
    "cors_origins": _as_list,
    "cors_allow_credentials": _as_bool,
    "hsts": _as_bool,
    "body_read_timeout_s": _as_float,
    "max_header_count": _as_int,
    "max_header_bytes": _as_int,
    "jwt_leeway_s": _as_float,
    "jwt_jwks_cache_s": _as_float,
    "log_format": _one_of("json", "text"),
    "log_level": _one_of("debug", "info", "warning", "error"),
    "log_prompts": _as_bool,
    "log_max_bytes": _as_int,
    "log_backups": _as_int,
    "metrics_max_users": _as_int,
    "metrics_max_models": _as_int,
    "metrics_log_interval_s": _as_float,
    "fetch_allow_private": _as_bool,
    "fetch_allowed_networks": _as_networks,
    "image_fetch_max_bytes": _as_int,
    "image_fetch_timeout_s": _as_float,
    "rate_limit_window_ms": _as_int,
    "rate_limit_max_requests": _as_int,
    "llm_rate_limit_window_ms": _as_int,
    "llm_rate_limit_max_requests": _as_int,
    "rate_limit_store": _one_of("memory", "redis"),
    "rate_limit_fail": _one_of("open", "closed"),
    "trusted_proxies": _as_networks,
    "cost_tracking_enabled": _as_bool,
    "cost_currency": _as_currency,
    "cost_exchange_rate": _as_money,
    "cost_budget_daily": _as_money,
    "cost_budget_monthly": _as_money,
    "cost_alert_threshold": _as_float,
    "cost_store": _one_of("sqlite", "redis"),
    "cost_timezone": _as_timezone,
}


def read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file (comments, blank lines, `export ` and quotes handled)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}: line {number} is not KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
