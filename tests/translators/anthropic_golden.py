"""Golden-fixture helpers for the Anthropic translator tests (tests/fixtures/anthropic/<case>/).

`UPDATE_GOLDENS=1` rewrites the expected files (vendor_request.json, openai_response.json,
openai_stream.jsonl) from the translators' output instead of comparing; reviewers read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from translators.anthropic.stream import StreamTranslator
from translators.errors import StreamError
from translators.sse import SSEDecoder

JSON = dict[str, Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "anthropic"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
DEFAULT_MAX_TOKENS = 64000  # the catalog's max_output_tokens for claude-sonnet-4-5, as the provider passes it
COMPLETION_ID = "chatcmpl-golden"
CREATED = 1767225600


def cases(*inputs: str) -> list[str]:
    """Case folders that hold every one of `inputs`."""
    return sorted(d.name for d in FIXTURES.iterdir() if d.is_dir() and all((d / f).is_file() for f in inputs))


def load(case: str, name: str) -> Any:
    return json.loads((FIXTURES / case / name).read_text(encoding="utf-8"))


def raw(case: str, name: str) -> bytes:
    return (FIXTURES / case / name).read_bytes()


def check(case: str, name: str, actual: Any) -> None:
    path = FIXTURES / case / name
    if UPDATE:
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert actual == json.loads(path.read_text(encoding="utf-8"))


def check_lines(case: str, name: str, actual: list[JSON]) -> None:
    path = FIXTURES / case / name
    if UPDATE:
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in actual)
        path.write_text(text, encoding="utf-8")
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    assert actual == [json.loads(line) for line in lines if line]


def translate_stream(data: bytes, *, slice_size: int | None, model: str, include_usage: bool = True) -> list[JSON]:
    """Feed raw SSE bytes in slices through SSEDecoder and StreamTranslator. A StreamError becomes a last
    `{"stream_error": ...}` item so that the golden file records how the stream failed."""
    decoder = SSEDecoder()
    translator = StreamTranslator(
        completion_id=COMPLETION_ID, created=CREATED, model=model, include_usage=include_usage
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
        error = exc.error
        out.append(
            {"stream_error": {"kind": error.kind, "message": error.message, "status": error.status, "code": error.code}}
        )
    return out
