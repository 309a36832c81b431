"""Cache keys: a stable hash of the canonical request, readable as `provider:model:hash`.

Only what changes the answer goes into the hash: the call kind, the resolved target (so aliases of one model
share entries), and the body without the fields that only steer transport, billing or bookkeeping
(`stream`, `stream_options`, `user`, request metadata...). Everything not listed as irrelevant is kept, so an
unknown field can only split entries, never merge two different requests. Keys sort object fields, so field
order never matters. With per-user scope the user id is hashed in: one user's answer is never served to another.
"""

from __future__ import annotations

import hashlib

import orjson

from gateway.types import ChatCall

# Fields that never change what the model answers.
IRRELEVANT = frozenset(
    {
        "model",  # replaced by the resolved target
        "stream",
        "stream_options",
        "user",
        "fallbacks",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)
# Numbers that clients write as 0 or 0.0 interchangeably.
NUMERIC = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


def cache_key(call: ChatCall, *, per_user: bool) -> str:
    """`provider:model:hash` for this call (32 hex digits of BLAKE2b)."""
    canon = {name: value for name, value in call.body.items() if name not in IRRELEVANT}
    for name in NUMERIC:
        value = canon.get(name)
        if isinstance(value, float) and value.is_integer():
            canon[name] = int(value)
    target = call.target
    scope = call.principal.user if per_user else ""
    material = orjson.dumps([call.kind, target.provider, target.model, scope, canon], option=orjson.OPT_SORT_KEYS)
    return f"{target.provider}:{target.model}:{hashlib.blake2b(material, digest_size=16).hexdigest()}"
