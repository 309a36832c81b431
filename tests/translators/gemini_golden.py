"""Golden-fixture helpers for the Gemini translator tests (tests/fixtures/gemini/<case>/).

Inputs: openai_request.json, vendor_response.json, vendor_stream.sse (raw bytes) and an optional meta.json
(`kind`, `tool_call_ids`, `images` fetched beforehand, error `status`). Expected outputs: vendor_request.json,
openai_response.json, openai_stream.jsonl. `UPDATE_GOLDENS=1` rewrites the expected files from the translators'
output instead of comparing; reviewers read the diff.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

from gateway.errors import UpstreamError, error_body
from tests.translators.golden import Fixtures
from translators.errors import StreamError
from translators.gemini.stream import StreamTranslator
from translators.sse import SSEDecoder

JSON = dict[str, Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gemini"
_FIXTURES = Fixtures(FIXTURES)
load, raw, check, check_lines = _FIXTURES.load, _FIXTURES.raw, _FIXTURES.check, _FIXTURES.check_lines
COMPLETION_ID = "chatcmpl-golden"
CREATED = 1767225600


def cases(*inputs: str, kind: str = "chat") -> list[str]:
    """Case folders of `kind` that hold every one of `inputs`."""
    return sorted(
        d.name
        for d in FIXTURES.iterdir()
        if d.is_dir() and all((d / f).is_file() for f in inputs) and meta(d.name).get("kind", "chat") == kind
    )


def meta(case: str) -> JSON:
    path = FIXTURES / case / "meta.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def model(case: str) -> str:
    return str(load(case, "openai_request.json")["model"])


def images(case: str) -> dict[str, tuple[str, bytes]]:
    found = meta(case).get("images", {})
    return {url: (v["mime_type"], base64.b64decode(v["data_base64"])) for url, v in found.items()}


def tool_call_ids(case: str) -> list[str]:
    return list(meta(case).get("tool_call_ids", []))


def translate_stream(data: bytes, *, slice_size: int | None, case: str) -> list[JSON]:
    """Feed raw SSE bytes in slices through SSEDecoder and StreamTranslator. A StreamError becomes a last item:
    the error event the gateway sends the caller (`{"error": {...}}`)."""
    counter = itertools.count(1)
    decoder = SSEDecoder()
    translator = StreamTranslator(
        completion_id=COMPLETION_ID,
        created=CREATED,
        model=model(case),
        include_usage=True,
        new_tool_call_id=lambda: f"call_golden_{next(counter)}",
    )
    pieces = [data] if slice_size is None else [data[i : i + slice_size] for i in range(0, len(data), slice_size)]
    out: list[JSON] = []
    try:
        for piece in pieces:
            for event in decoder.feed(piece):
                out.extend(translator.feed(event))
        for event in decoder.flush():
            out.extend(translator.feed(event))
        out.extend(translator.finish())
    except StreamError as exc:
        out.append(dict(error_body(UpstreamError.from_vendor("google", exc.error))))
    return out
