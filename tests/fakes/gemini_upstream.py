"""A loopback fake of the Gemini API (generativelanguage v1beta) for end-to-end tests. It ENFORCES the rules
the real API enforces (tests/fakes/gemini_rules.py): the `x-goog-api-key` header, roles user/model, no empty
parts, functionResponse names matching the previous turn's calls, `alt=sse` on streams, thought signatures
echoed back on function calls it issued, at most 100 batch embeddings each naming its model.

Behaviour: offered tools (mode not NONE) and no function response yet -> one functionCall (with a signature);
a function response -> text quoting it; otherwise "Echo: <last user text>". Model names script failures:
`gemini-overloaded` (503), `gemini-ratelimited` (429 with RetryInfo), `gemini-missing` (404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.gemini_rules import problems

JSON = dict[str, Any]
SIGNATURE = "c2lnLWZha2UrLz0="  # base64 with + and /, as real signatures have


@dataclass
class GeminiState:
    api_key: str
    requests: list[JSON] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, vendor_status: str, message: str, details: list[JSON] | None = None) -> Response:
    return _json(
        {"error": {"code": status, "message": message, "status": vendor_status, "details": details or []}}, status
    )


def _signature_problems(body: JSON, model: str) -> list[str]:
    """Gemini 3 rejects a function call without its thought signature (the placeholder passes); 2.x does not check."""
    if not model.startswith("gemini-3"):
        return []
    found = []
    for i, content in enumerate(body["contents"]):
        for part in content["parts"]:
            if "functionCall" in part and part.get("thoughtSignature") not in (
                SIGNATURE,
                "skip_thought_signature_validator",
            ):
                found.append(f"contents[{i}]: Function call is missing a thought_signature in functionCall parts")
    return found


def _answer_parts(body: JSON) -> list[JSON]:
    last = body["contents"][-1]
    responses = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
    if responses:
        said = "; ".join(f"{r['name']} -> {orjson.dumps(r['response']).decode()}" for r in responses)
        return [{"text": f"Tool results: {said}"}]
    declared = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode", "AUTO")
    if declared and mode != "NONE":
        call = {"name": declared[0]["name"], "args": {"city": "Paris"}}
        return [{"functionCall": call, "thoughtSignature": SIGNATURE}]
    text = next((p["text"] for p in reversed(last["parts"]) if "text" in p), "")
    return [{"text": f"Echo: {text}"}]


def _usage(body: JSON, output: int) -> JSON:
    prompt = len(orjson.dumps(body["contents"])) // 8
    return {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}


def build_fake_gemini(state: GeminiState) -> Starlette:
    async def models_call(request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.partition(":")
        state.paths.append(request.url.path + ("?" + request.url.query if request.url.query else ""))
        if request.headers.get("x-goog-api-key") != state.api_key:
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
            return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details)
        body = orjson.loads(await request.body())
        state.requests.append(body)
        if model == "gemini-overloaded":
            return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if model == "gemini-ratelimited":
            retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
            return _error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", retry)
        if model == "gemini-missing":
            return _error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta.")
        if method in ("embedContent", "batchEmbedContents"):
            return _embed(model, method, body)
        if method == "streamGenerateContent" and request.query_params.get("alt") != "sse":
            return _error(400, "INVALID_ARGUMENT", "streamGenerateContent without alt=sse answers a JSON array")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, "NOT_FOUND", f"Unknown method {method}")
        found = problems(body) + _signature_problems(body, model)
        if found:
            return _error(400, "INVALID_ARGUMENT", "; ".join(found))
        parts = _answer_parts(body)
        if method == "generateContent":
            candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            return _json({"candidates": [candidate], "usageMetadata": _usage(body, 5), "modelVersion": model})
        return _stream(body, parts, model)

    async def list_models(request: Request) -> Response:
        if request.headers.get("x-goog-api-key") != state.api_key:
            return _error(400, "INVALID_ARGUMENT", "API key not valid.")
        if request.query_params.get("pageToken") == "page-2":
            return _json(
                {"models": [{"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]}]}
            )
        first = [{"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]}]
        return _json({"models": first, "nextPageToken": "page-2"})

    return Starlette(
        routes=[
            Route("/v1beta/models", list_models, methods=["GET"]),
            Route("/v1beta/models/{target}", models_call, methods=["POST"]),
        ]
    )


def _stream(body: JSON, parts: list[JSON], model: str) -> Response:
    events: list[JSON] = []
    if "text" in parts[0]:
        text = parts[0]["text"]
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)] or [""]
        for n, piece in enumerate(pieces, 1):
            candidate = {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
            events.append({"candidates": [candidate], "usageMetadata": _usage(body, n), "modelVersion": model})
    else:
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        events.append({"candidates": [candidate], "usageMetadata": _usage(body, 3), "modelVersion": model})
    final = {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
    events.append({"candidates": [final], "usageMetadata": _usage(body, len(events)), "modelVersion": model})
    raw = b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)
    return Response(raw, media_type="text/event-stream")


def _vector(text: str, dimensions: int) -> list[float]:
    return [float(len(text))] + [round(0.25 * k, 2) for k in range(1, dimensions)]


def _embed(model: str, method: str, body: JSON) -> Response:
    if method == "embedContent":
        text = body["content"]["parts"][0]["text"]
        return _json({"embedding": {"values": _vector(text, body.get("outputDimensionality", 3))}})
    requests = body.get("requests") or []
    if len(requests) > 100:
        return _error(400, "INVALID_ARGUMENT", "at most 100 requests can be in one batch")
    for item in requests:
        if item.get("model") != f"models/{model}":
            return _error(400, "INVALID_ARGUMENT", "Model in each request must match the batch model")
    return _json(
        {
            "embeddings": [
                {"values": _vector(r["content"]["parts"][0]["text"], r.get("outputDimensionality", 3))}
                for r in requests
            ]
        }
    )
