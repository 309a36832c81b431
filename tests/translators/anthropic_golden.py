"""Golden-fixture helpers for the Anthropic translator tests (tests/fixtures/anthropic/<case>/).

`UPDATE_GOLDENS=1` rewrites the expected files (vendor_request.json, openai_response.json,
openai_stream.jsonl) from the translators' output instead of comparing; reviewers read the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.translators.golden import Fixtures
from translators.anthropic.stream import StreamTranslator
from translators.errors import StreamError
from translators.sse import SSEDecoder

JSON = dict[str, Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "anthropic"
_FIXTURES = Fixtures(FIXTURES)
load, raw, check, check_lines = _FIXTURES.load, _FIXTURES.raw, _FIXTURES.check, _FIXTURES.check_lines
DEFAULT_MAX_TOKENS = 64000  # the catalog's max_output_tokens for claude-sonnet-4-5, as the provider passes it
COMPLETION_ID = "chatcmpl-golden"
CREATED = 1767225600


def cases(*inputs: str) -> list[str]:
    """Case folders that hold every one of `inputs`."""
    return sorted(d.name for d in FIXTURES.iterdir() if d.is_dir() and all((d / f).is_file() for f in inputs))


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
