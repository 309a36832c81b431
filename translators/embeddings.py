"""Embedding vectors in the encoding the caller asked for.

The openai SDK asks for `base64` whenever its caller did not choose, and decodes the string as little-endian
float32 (wire-formats §2.2); a vendor that only returns floats must be packed that way.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence


def encode_vector(values: Sequence[float], encoding_format: str | None) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
    return list(values)


def decode_vector(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))
