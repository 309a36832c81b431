"""`GET /api/llm/costs/summary`, `/history` and `/users` (CONTRACT §3, §5, §10).

A non-admin sees only its own records: its queries are pinned to its own `sub`, and a `user=` naming someone else
is a 403. Admins see everything and may filter by user. Time ranges are `period=day|month|all` (day and month in
`COST_TIMEZONE`; default `month`) or `since`/`until` in ISO 8601 (`until` exclusive; no offset means UTC).
Each query first writes this replica's buffered records, so a caller sees its own calls at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from gateway.ledger import Filters, Ledger, Summary, Totals, decode_cursor, iso
from gateway.routes import admin_only, json_response, principal_of
from gateway.spend.periods import PeriodClock

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PERIODS = ("day", "month", "all")


def _instant(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(
            f"`{name}` must be an ISO 8601 time such as 2026-11-03T00:00:00Z; got {raw!r}.", param=name
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


class CostRoutes:
    def __init__(self, ledger: Ledger | None, *, currency: str, clock: PeriodClock) -> None:
        self._ledger = ledger
        self._currency = currency
        self._clock = clock

    def _store(self) -> Ledger:
        if self._ledger is None:
            raise NotFoundError("Cost tracking is disabled on this gateway (COST_TRACKING_ENABLED=false).")
        return self._ledger

    def _range(self, request: Request) -> tuple[int | None, int | None]:
        since, until = _instant(request, "since"), _instant(request, "until")
        if since is not None or until is not None:
            if since is not None and until is not None and until <= since:
                raise InvalidRequestError("`until` must be later than `since`.", param="until")
            return since, until
        period = request.query_params.get("period", "month")
        if period not in PERIODS:
            raise InvalidRequestError(f"`period` must be one of {', '.join(PERIODS)}; got {period!r}.", param="period")
        if period == "all":
            return None, None
        periods = self._clock.current()
        if period == "day":
            return int(periods.day_start * 1e6), int(periods.day_end * 1e6)
        return int(periods.month_start * 1e6), int(periods.month_end * 1e6)

    def _user(self, request: Request) -> str | None:
        """The user a query covers: pinned to the caller unless it is an admin (CONTRACT §5)."""
        principal = principal_of(request)
        wanted = request.query_params.get("user") or None
        if principal.is_admin:
            return wanted
        if wanted is not None and wanted != principal.user:
            raise PermissionDeniedError("Only an admin may read another user's costs.")
        return principal.user

    def _filters(self, request: Request, *, user: str | None) -> Filters:
        since, until = self._range(request)
        params = request.query_params
        return Filters(
            user=user,
            provider=params.get("provider") or None,
            model=params.get("model") or None,
            request_id=params.get("request_id") or None,
            since_us=since,
            until_us=until,
        )

    async def summary(self, request: Request) -> Response:
        ledger = self._store()
        filters = self._filters(request, user=self._user(request))
        await ledger.flush()
        summary = await ledger.summary(filters)
        return json_response(
            {
                "currency": self._currency,
                **self._bounds(filters),
                "total": summary.total.as_json(),
                "by_provider": _table(summary.by_provider),
                "by_model": _table(summary.by_model),
                "by_user": _table(summary.by_user),
            }
        )

    async def history(self, request: Request) -> Response:
        ledger = self._store()
        user = self._user(request)
        params = request.query_params
        if "period" not in params:  # history covers everything unless asked otherwise
            filters = Filters(
                user=user,
                provider=params.get("provider") or None,
                model=params.get("model") or None,
                request_id=params.get("request_id") or None,
                since_us=_instant(request, "since"),
                until_us=_instant(request, "until"),
            )
        else:
            filters = self._filters(request, user=user)
        raw_limit = params.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise InvalidRequestError(f"`limit` must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
        cursor = None
        if params.get("cursor"):
            try:
                cursor = decode_cursor(params["cursor"])
            except ValueError:
                raise InvalidRequestError("`cursor` is not a cursor this route gave out.", param="cursor") from None
        await ledger.flush()
        records, next_cursor = await ledger.history(filters, limit=int(raw_limit), cursor=cursor)
        return json_response({"data": [r.as_json() for r in records], "next_cursor": next_cursor})

    async def users(self, request: Request) -> Response:
        ledger = self._store()
        filters = self._filters(request, user=request.query_params.get("user") or None)
        await ledger.flush()
        summary: Summary = await ledger.summary(filters)
        data = [
            {"user": user, **totals.as_json()}
            for user, totals in sorted(summary.by_user.items(), key=lambda item: (-item[1].cost, item[0]))
        ]
        return json_response({"currency": self._currency, **self._bounds(filters), "data": data})

    @staticmethod
    def _bounds(filters: Filters) -> dict[str, str | None]:
        return {
            "since": iso(filters.since_us) if filters.since_us is not None else None,
            "until": iso(filters.until_us) if filters.until_us is not None else None,
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/llm/costs/summary", self.summary, methods=["GET"]),
            Route("/api/llm/costs/history", self.history, methods=["GET"]),
            Route("/api/llm/costs/users", admin_only(self.users), methods=["GET"]),
        ]


def _table(groups: dict[str, Totals]) -> dict[str, object]:
    return {name: totals.as_json() for name, totals in sorted(groups.items())}
