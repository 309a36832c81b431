"""The two errors a translator can raise.

`TranslationError`: the caller asked for something this vendor cannot do (becomes a 400 naming `param`).
`VendorError`: what a vendor's error answer means, decided by each vendor's `parse_error`; the gateway
turns it into its own HTTP error (CONTRACT §6). Kinds are a closed set so that the mapping is one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VendorErrorKind = Literal[
    "bad_request",  # 400 / 422: the request itself is wrong; never retried
    "authentication",  # 401 (or Gemini's 400 API_KEY_INVALID): the gateway's vendor key is bad
    "permission",  # 403
    "not_found",  # 404
    "too_large",  # 413
    "rate_limit",  # 429: retryable, may carry retry_after_s
    "overloaded",  # Anthropic 529 or any "overloaded" answer: retryable
    "server",  # 500 / 502 / 503 / 504: retryable
    "timeout",  # connect or read timeout: retryable
    "connection",  # refused or reset connection: retryable
    "bad_response",  # a 2xx the gateway cannot read: retryable
]

RETRYABLE_KINDS: frozenset[str] = frozenset(
    {"rate_limit", "overloaded", "server", "timeout", "connection", "bad_response"}
)


class TranslationError(ValueError):
    """A request field the target vendor cannot honour; `param` names it (dotted path)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class VendorError:
    """A vendor's failure, classified. `status` is the vendor's HTTP status (0 for transport failures)."""

    kind: VendorErrorKind
    message: str
    status: int = 0
    param: str | None = None
    code: str | None = None
    retry_after_s: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


def kind_for_status(status: int) -> VendorErrorKind:
    """The default classification of a vendor HTTP status; vendors refine it from the body."""
    if status == 529:
        return "overloaded"
    if status in (400, 422):
        return "bad_request"
    table: dict[int, VendorErrorKind] = {
        401: "authentication",
        403: "permission",
        404: "not_found",
        408: "timeout",
        413: "too_large",
        429: "rate_limit",
    }
    if status in table:
        return table[status]
    if status >= 500:
        return "server"
    return "bad_request"


def looks_overloaded(message: str, vendor_type: str | None) -> bool:
    """CONTRACT §6: any vendor answer that says it is overloaded is a 503 `overloaded`."""
    text = f"{vendor_type or ''} {message}".lower()
    return "overloaded" in text


class StreamError(Exception):
    """A vendor stream failed after it started (an `error` event, or a frame that cannot be read)."""

    def __init__(self, error: VendorError) -> None:
        super().__init__(error.message)
        self.error = error
