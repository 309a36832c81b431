"""OpenAI response bodies pass through; this only checks that a 2xx body is the shape we promise to return."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

EXPECTED_OBJECTS = {"chat": "chat.completion", "completion": "text_completion", "embedding": "list"}


def check_response(body: object, *, kind: str) -> JSON:
    """Return `body` if it looks like an OpenAI answer of `kind`; raise ValueError (a bad upstream answer)."""
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    if kind == "embedding":
        if not isinstance(body.get("data"), list):
            raise ValueError("the embeddings answer has no `data` list")
    elif not isinstance(body.get("choices"), list):
        raise ValueError("the answer has no `choices` list")
    return body
