"""`x-request-id`: echo the caller's (if it is short and printable) or make one."""

from __future__ import annotations

import re

from gateway.ids import unique_hex
from gateway.types import Scope

VALID_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `x-request-id` when it is usable, else a new `req_<32 hex>`."""
    for name, value in headers:
        if name == b"x-request-id":
            if VALID_ID.match(value):
                return bytes(value).decode("ascii")
            break
    return "req_" + unique_hex()


def request_id_of(scope: Scope) -> str:
    return str(scope["state"]["request_id"])
