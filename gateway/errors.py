"""Every error the gateway answers with, and the one function that renders them.

    GatewayError                  500 api_error
    ├─ InvalidRequestError        400 invalid_request_error (carries param; from TranslationError)
    ├─ AuthenticationError        401 authentication_error, code invalid_api_key
    ├─ PermissionDeniedError      403 permission_error
    ├─ NotFoundError              404 not_found_error (unknown route)
    │  └─ ModelNotFoundError      404 invalid_request_error, code model_not_found
    ├─ MethodNotAllowedError      405 invalid_request_error
    ├─ PayloadTooLargeError       413 invalid_request_error, code payload_too_large
    ├─ RateLimitError             429 rate_limit_error, code rate_limit_exceeded, Retry-After
    ├─ BudgetExceededError        429 insufficient_quota, code budget_exceeded, Retry-After
    ├─ ServiceUnavailableError    503 service_unavailable_error (no provider can serve)
    └─ UpstreamError              502 api_error, code upstream_error; .provider, .retryable
       (built from a VendorError by `UpstreamError.from_vendor`, which applies CONTRACT §6:
        vendor 4xx keep their status, 500/502/503 -> 502, overloaded -> 503, timeout -> 504)

Raise these; never build error JSON elsewhere. `to_openai_error` is the only renderer.
"""

from __future__ import annotations

import math

import orjson

from translators.errors import TranslationError, VendorError

JSON_HEADERS = {"content-type": "application/json"}


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"

    @classmethod
    def from_translation(cls, exc: TranslationError) -> InvalidRequestError:
        return cls(exc.message, param=exc.param)


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    type = "not_found_error"


class ModelNotFoundError(NotFoundError):
    type = "invalid_request_error"
    code = "model_not_found"


class MethodNotAllowedError(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


def _retry_after_headers(retry_after_s: float) -> dict[str, str]:
    # whole seconds, rounded up (CONTRACT §6); x-should-retry tells the SDK whether waiting helps
    return {"retry-after": str(max(1, math.ceil(retry_after_s)))}


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers={**(headers or {}), **_retry_after_headers(retry_after_s)})
        self.retry_after_s = retry_after_s


class BudgetExceededError(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, headers={**_retry_after_headers(retry_after_s), "x-should-retry": "false"})
        self.retry_after_s = retry_after_s


class ServiceUnavailableError(GatewayError):
    status = 503
    type = "service_unavailable_error"
    code = "no_provider_available"


# CONTRACT §6: which vendor 4xx statuses reach the caller unchanged.
KEPT_VENDOR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 429})
_VENDOR_KIND_TYPES = {
    "bad_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
}


class UpstreamError(GatewayError):
    """A vendor failed. `retryable` tells the failover layer whether another attempt may help."""

    status = 502
    type = "api_error"
    code: str | None = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retryable: bool,
        status: int = 502,
        type: str = "api_error",
        code: str | None = "upstream_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
        vendor: VendorError | None = None,
    ) -> None:
        super().__init__(message, param=param, headers=headers)
        self.code = code  # None is meaningful: a vendor 4xx without a code
        self.status = status
        self.type = type
        self.provider = provider
        self.retryable = retryable
        self.vendor = vendor

    @classmethod
    def from_vendor(cls, provider: str, error: VendorError) -> UpstreamError:
        headers: dict[str, str] = {}
        if error.retry_after_s is not None and error.retry_after_s > 0:
            headers.update(_retry_after_headers(error.retry_after_s))
        message = f"{provider}: {error.message}" if error.message else f"{provider} failed"
        code: str | None
        if error.kind == "overloaded":
            status, type_, code = 503, "service_unavailable_error", "overloaded"
        elif error.kind == "timeout":
            status, type_, code = 504, "timeout_error", "upstream_timeout"
        elif error.kind in ("server", "connection", "bad_response"):
            status, type_, code = 502, "api_error", "upstream_error"
        else:
            status = error.status if error.status in KEPT_VENDOR_STATUSES else 400
            type_ = _VENDOR_KIND_TYPES.get(error.kind, "invalid_request_error")
            code = error.code
            if error.kind == "not_found" and code is None:
                code = "model_not_found"
        return cls(
            message,
            provider=provider,
            retryable=error.retryable,
            status=status,
            type=type_,
            code=code,
            param=error.param,
            headers=headers,
            vendor=error,
        )


def error_body(exc: GatewayError) -> JSONBody:
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}


JSONBody = dict[str, dict[str, str | None]]


def to_openai_error(exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
    """(status, JSON body, headers) for an error: the one place error JSON is made."""
    return exc.status, orjson.dumps(error_body(exc)), {**JSON_HEADERS, **exc.headers}


INTERNAL_ERROR = GatewayError("The gateway failed to handle the request; the error was logged.")
