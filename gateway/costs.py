"""Cost tracking wired together: prices, ledger, budget figures, alerts, the budget layer, routes and health.

`build_app` makes one `Costs` and plugs in its pieces: `layers` (the budget layer; empty when
COST_TRACKING_ENABLED=false), `routes()`, `check` (the `costs` health component), `start` and `close`
(start-up and shutdown hooks). Nothing here does I/O until `start`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from gateway.alerts import Alerter
from gateway.catalog import Catalog
from gateway.layers.budget import Budget
from gateway.ledger import Ledger
from gateway.ledger.redis import RedisLedger
from gateway.ledger.routes import CostRoutes
from gateway.ledger.sqlite import SQLiteLedger
from gateway.pricing import PriceTable, to_nanos
from gateway.settings import Settings
from gateway.spend import MemorySpend, SpendStore
from gateway.spend.periods import PeriodClock
from gateway.spend.redis import RedisSpend
from gateway.types import JSON, Layer, Target

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

HOLD_MARGIN_S = 120.0  # a hold outlives the longest upstream call by this much before it expires


def _max_output(catalog: Catalog) -> Callable[[Target], int | None]:
    def max_output(target: Target) -> int | None:
        info = catalog.info(target)
        return info.max_output_tokens if info is not None else None

    return max_output


def _money(value: object) -> int | None:
    return to_nanos(str(value)) if value else None


class Costs:
    def __init__(
        self,
        settings: Settings,
        *,
        redis: Redis | None,
        catalog: Catalog | None = None,
    ) -> None:
        prefix = settings.cost_prefix
        self.enabled = settings.cost_tracking_enabled
        self.currency = settings.cost_currency
        self.clock = PeriodClock(settings.cost_timezone)
        self.pricing = PriceTable.bundled(
            settings.config.prices, exchange_rate=settings.cost_exchange_rate or Decimal(1)
        )
        shared = settings.cost_store == "redis" and redis is not None  # the ledger itself in Redis
        self.ledger: Ledger | None = None
        self.alerts: Alerter | None = None
        self.budget: Budget | None = None
        if not self.enabled:
            return
        self.ledger = (
            RedisLedger(redis, prefix=prefix) if shared and redis is not None else SQLiteLedger(settings.cost_db_path)
        )
        # budget figures live in Redis whenever there is one: every worker and replica then holds the same budget
        spend: SpendStore = (
            RedisSpend(redis, prefix=prefix, hold_ttl_s=settings.upstream_timeout_s + HOLD_MARGIN_S)
            if redis is not None
            else MemorySpend()
        )
        self.alerts = Alerter(
            threshold=settings.cost_alert_threshold,
            currency=self.currency,
            email=settings.cost_alert_email,
            smtp_url=settings.smtp_url,
            webhook=settings.cost_alert_webhook,
            redis=redis,
            prefix=prefix,
        )
        users = {
            user: (_money(table.get("budget_daily")), _money(table.get("budget_monthly")))
            for user, table in settings.config.users.items()
            if table.get("budget_daily") or table.get("budget_monthly")
        }
        self.budget = Budget(
            pricing=self.pricing,
            ledger=self.ledger,
            currency=self.currency,
            clock=self.clock,
            spend=spend,
            daily=_money(settings.cost_budget_daily),
            monthly=_money(settings.cost_budget_monthly),
            users=users,
            alerts=self.alerts,
            max_output=_max_output(catalog) if catalog is not None else None,
        )

    @property
    def layers(self) -> list[Layer]:
        return [self.budget] if self.budget is not None else []

    def routes(self) -> list[BaseRoute]:
        return CostRoutes(self.ledger, currency=self.currency, clock=self.clock).routes()

    async def start(self) -> None:
        if self.ledger is None:
            return
        await self.ledger.start()
        if self.alerts is not None:
            await self.alerts.start()
        if self.budget is not None:
            await self.budget.seed()

    async def close(self) -> None:
        """Shutdown: settle what is in flight, let alerts go out, then write every buffered record."""
        if self.budget is not None:
            await self.budget.drain()
        if self.alerts is not None:
            await self.alerts.close()
        if self.ledger is not None:
            await self.ledger.close()

    def used_ratios(self) -> dict[tuple[str, str], float]:
        """`gateway_budget_used_ratio`: spend / limit per budget (read at scrape time)."""
        return self.budget.used_ratios() if self.budget is not None else {}

    async def check(self) -> JSON:
        if self.ledger is None:
            return {"status": "ok", "enabled": False}
        return {"enabled": True, "currency": self.currency, **(await self.ledger.check())}
