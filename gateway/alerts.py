"""Budget alerts: when spend crosses `COST_ALERT_THRESHOLD` of a budget (and again when the budget is used up),
say so once per budget and period, on every channel configured:

    a warning line on the `costs` logger        always
    an email to COST_ALERT_EMAIL via SMTP_URL   smtp://[user:pass@]host[:port][?starttls=true&from=addr], smtps://
    a JSON POST to COST_ALERT_WEBHOOK           any 2xx is success

`observe()` is synchronous and cheap (the budget layer calls it after each settle); delivery runs in background
tasks, each channel retried with backoff and logged, so a dead mail server never slows a request. With Redis the
"once" holds across replicas (a SET NX claim per budget, period and level).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from gateway.pricing import format_nanos
from gateway.spend import Cap
from gateway.types import JSON

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

logger = logging.getLogger("gateway.costs")

PPM = 1_000_000
CLAIM_TTL_S = 40 * 86400
SMTP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Alert:
    cap: Cap
    level_ppm: int  # the fraction crossed, in millionths (1_000_000 = the budget is used up)
    spent: int
    currency: str

    @property
    def exhausted(self) -> bool:
        return self.level_ppm >= PPM

    def as_json(self) -> JSON:
        user = self.cap.user
        return {
            "event": "budget_exhausted" if self.exhausted else "budget_threshold",
            "budget": "daily" if self.cap.period == "day" else "monthly",
            "scope": "user" if user is not None else "global",
            "user": user,
            "period": self.cap.period_key,
            "threshold": self.level_ppm / PPM,
            "limit": format_nanos(self.cap.limit),
            "spent": format_nanos(self.spent),
            "currency": self.currency,
        }

    def text(self) -> str:
        who = f"user {self.cap.user}" if self.cap.user is not None else "the gateway"
        budget = "daily" if self.cap.period == "day" else "monthly"
        spent = f"{format_nanos(self.spent)} of {format_nanos(self.cap.limit)} {self.currency}"
        if self.exhausted:
            return f"The {budget} budget of {who} for {self.cap.period_key} is used up: {spent}."
        return f"The {budget} budget of {who} for {self.cap.period_key} passed {self.level_ppm / PPM:.0%}: {spent}."


@dataclass(frozen=True, slots=True)
class SMTPTarget:
    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def parse(cls, url: str) -> SMTPTarget:
        """Raises ValueError naming what is wrong (settings reports it under SMTP_URL)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"{_safe(url)!r} is not smtp://host[:port] or smtps://host[:port]")
        query = parse_qs(parts.query)
        ssl = parts.scheme == "smtps"
        port = parts.port or (465 if ssl else 25)
        username = unquote(parts.username) if parts.username else None
        default_sender = username if username and "@" in username else "llm-gateway@localhost"
        return cls(
            host=parts.hostname,
            port=port,
            ssl=ssl,
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes") or port == 587,
            username=username,
            password=unquote(parts.password) if parts.password else None,
            sender=query.get("from", [default_sender])[0],
        )


def _safe(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


class Alerter:
    def __init__(
        self,
        *,
        threshold: float,
        currency: str,
        email: str | None = None,
        smtp_url: str | None = None,
        webhook: str | None = None,
        redis: Redis | None = None,
        prefix: str = "llmgw:costs:",
        attempts: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        self._levels = sorted({round(threshold * PPM), PPM} - {0})
        self._currency = currency
        self._email = email
        self._smtp = SMTPTarget.parse(smtp_url) if smtp_url and email else None
        self._webhook = webhook
        self._redis = redis
        self._prefix = prefix
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._fired: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._webhook:
            self._http = httpx.AsyncClient(timeout=10.0)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Give deliveries in progress a moment to finish, then cancel what is left."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in late:
                task.cancel()
            if late:
                logger.error("budget alerts still undelivered at shutdown", extra={"count": len(late)})
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def observe(self, cap: Cap, spent: int) -> None:
        """Fire each level this budget's spend has reached, once per period."""
        for level in self._levels:
            if spent * PPM < level * cap.limit:
                break
            key = (cap.key, level)
            if key in self._fired:
                continue
            self._fired.add(key)
            if len(self._fired) > 100_000:  # old periods: forget them, the Redis claim (if any) still dedupes
                self._fired = {key}
            task = asyncio.get_running_loop().create_task(self._deliver(Alert(cap, level, spent, self._currency)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, alert: Alert) -> None:
        if self._redis is not None and not await self._claim(alert):
            return
        logger.warning(alert.text(), extra={"alert": alert.as_json()})
        jobs = []
        if self._smtp is not None and self._email:
            jobs.append(self._retry("email", self._send_email, alert))
        if self._http is not None and self._webhook:
            jobs.append(self._retry("webhook", self._post_webhook, alert))
        await asyncio.gather(*jobs)

    async def _claim(self, alert: Alert) -> bool:
        """Only the first replica to cross a level sends it. If Redis is unreachable, send anyway (at least once)."""
        assert self._redis is not None
        key = f"{self._prefix}alert:{alert.cap.key}:{alert.level_ppm}"
        try:
            return bool(await self._redis.set(key, b"1", nx=True, ex=CLAIM_TTL_S))
        except Exception as exc:  # noqa: BLE001  # an alert twice beats no alert; logged
            logger.warning("alert claim failed; sending anyway", extra={"error": type(exc).__name__})
            return True

    async def _retry(self, channel: str, send: Any, alert: Alert) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await send(alert)
                return
            except Exception as exc:  # noqa: BLE001  # a failing channel is retried and logged, never raised
                logger.warning(
                    "budget alert delivery failed",
                    extra={"channel": channel, "attempt": attempt, "error": f"{type(exc).__name__}: {exc}"},
                )
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        logger.error("budget alert not delivered", extra={"channel": channel, "alert": alert.as_json()})

    async def _post_webhook(self, alert: Alert) -> None:
        assert self._http is not None and self._webhook is not None
        response = await self._http.post(self._webhook, json={**alert.as_json(), "message": alert.text()})
        response.raise_for_status()

    async def _send_email(self, alert: Alert) -> None:
        await asyncio.to_thread(self._send_email_blocking, alert)

    def _send_email_blocking(self, alert: Alert) -> None:
        target = self._smtp
        assert target is not None and self._email is not None
        message = EmailMessage()
        message["Subject"] = f"[llm-gateway] {alert.text()}"
        message["From"] = target.sender
        message["To"] = self._email
        message.set_content(alert.text() + "\n\n" + "\n".join(f"{k}: {v}" for k, v in alert.as_json().items()))
        smtp_class = smtplib.SMTP_SSL if target.ssl else smtplib.SMTP
        with smtp_class(target.host, target.port, timeout=SMTP_TIMEOUT_S) as smtp:
            if target.starttls:
                smtp.starttls()
            if target.username and target.password:
                smtp.login(target.username, target.password)
            smtp.send_message(message)
