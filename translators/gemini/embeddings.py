"""OpenAI embeddings <-> Gemini `embedContent` / `batchEmbedContents` (wire-formats §5.5, §6.11, trap 23).

One input goes to `embedContent`; a list goes to `batchEmbedContents`, whose requests each repeat
`model: "models/{id}"` and which takes at most 100 requests per call (`split_batch`; answers are joined in
input order). `dimensions` -> `outputDimensionality`. Token-array inputs cannot be sent (Gemini embeds text).
Vectors are returned as floats or packed as little-endian float32 base64, as the caller asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from translators.embeddings import encode_vector
from translators.errors import TranslationError
from translators.gemini.request import model_path

JSON = dict[str, Any]

MAX_BATCH = 100
TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)


def _options(body: JSON) -> JSON:
    options: JSON = {}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        options["outputDimensionality"] = dimensions
    task = body.get("task_type")  # gateway extension: Gemini's taskType
    if task is not None:
        if not isinstance(task, str) or task.upper() not in TASK_TYPES:
            raise TranslationError(f"Unknown task_type {task!r}.", param="task_type")
        options["taskType"] = task.upper()
    return options


def build_embed_request(body: JSON, *, model: str) -> tuple[str, JSON]:
    """(method, body): `embedContent` for one string, `batchEmbedContents` (all inputs) for a list."""
    inputs = body.get("input")
    path = model_path(model)
    options = _options(body)
    if isinstance(inputs, str):
        return "embedContent", {"content": {"parts": [{"text": inputs}]}, **options}
    if not isinstance(inputs, list) or not inputs:
        raise TranslationError("`input` must be a string or a list of strings.", param="input")
    if not all(isinstance(item, str) for item in inputs):
        raise TranslationError("Gemini embeds text only: token-array inputs are not supported.", param="input")
    requests = [{"model": path, "content": {"parts": [{"text": text}]}, **options} for text in inputs]
    return "batchEmbedContents", {"requests": requests}


def split_batch(body: JSON, size: int = MAX_BATCH) -> list[JSON]:
    """A `batchEmbedContents` body -> bodies of at most `size` requests each, in order."""
    requests = body["requests"]
    return [{"requests": requests[start : start + size]} for start in range(0, len(requests), size)]


def _vectors(answer: Any) -> list[list[float]]:
    if not isinstance(answer, dict):
        raise ValueError("the embeddings answer is not an object")
    if isinstance(answer.get("embedding"), dict):
        found = [answer["embedding"]]
    elif isinstance(answer.get("embeddings"), list):
        found = answer["embeddings"]
    else:
        raise ValueError("the embeddings answer has no `embedding`/`embeddings`")
    vectors = []
    for item in found:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise ValueError("an embedding has no `values` list")
        vectors.append(values)
    return vectors


def parse_embed_response(answers: Sequence[Any], *, model: str, encoding_format: str | None, expected: int) -> JSON:
    """The Gemini answers (one per call, in order) -> an OpenAI embeddings list. Raises ValueError on a bad answer,
    including a count that does not match the `expected` number of inputs."""
    vectors = [v for answer in answers for v in _vectors(answer)]
    if len(vectors) != expected:
        raise ValueError(f"Gemini returned {len(vectors)} embeddings for {expected} inputs")
    tokens = 0
    for answer in answers:
        meta = answer.get("usageMetadata")  # newer models report it; older ones report no usage at all
        count = meta.get("promptTokenCount") if isinstance(meta, dict) else None
        tokens += count if isinstance(count, int) and count > 0 else 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode_vector(vector, encoding_format)}
            for i, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
