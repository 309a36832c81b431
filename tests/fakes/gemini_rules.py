"""The request rules the Gemini API enforces (wire-formats §5.2, §6.12), as one checker shared by the loopback
fake Gemini API and the property-based test: `problems(body)` lists every violation, [] when Gemini would accept."""

from __future__ import annotations

from collections import Counter
from typing import Any

from translators.gemini.schema import JSON_SCHEMA_KEYWORDS, SCHEMA_KEYWORDS

JSON = dict[str, Any]
PART_DATA = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
GENERATION_FIELDS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
        "responseLogprobs",
        "logprobs",
    }
)
TOP_LEVEL = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"})


def schema_problems(schema: Any, where: str) -> list[str]:
    """Keywords outside Gemini's OpenAPI-subset Schema, anywhere in `schema`."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    found = [f"{where}: unsupported keyword {k!r}" for k in schema if k not in SCHEMA_KEYWORDS]
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"]):
        found.append(f"{where}: enum values must be strings")
    if isinstance(schema.get("type"), list):
        found.append(f"{where}: type must be one name")
    if schema.get("properties") == {}:
        found.append(f"{where}: properties should be non-empty for OBJECT type")
    for name, sub in (schema.get("properties") or {}).items():
        found += schema_problems(sub, f"{where}.properties.{name}")
    if "items" in schema:
        found += schema_problems(schema["items"], f"{where}.items")
    for k, sub in enumerate(schema.get("anyOf") or ()):
        found += schema_problems(sub, f"{where}.anyOf[{k}]")
    return found


def _json_schema_problems(schema: Any, where: str) -> list[str]:
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    return [f"{where}: unsupported keyword {k!r}" for k in schema if k not in JSON_SCHEMA_KEYWORDS]


def _part_problems(part: Any, where: str) -> list[str]:
    if not isinstance(part, dict):
        return [f"{where}: a part must be an object"]
    data = [k for k in PART_DATA if k in part]
    if len(data) != 1:
        return [f"{where}: a part needs exactly one of {PART_DATA}, got {data}"]
    found = []
    if "text" in part and (not isinstance(part["text"], str) or not part["text"]):
        found.append(f"{where}.text: must be a non-empty string")
    if "functionResponse" in part and not isinstance(part["functionResponse"].get("response"), dict):
        found.append(f"{where}.functionResponse.response: must be an object")
    if "functionCall" in part and not isinstance(part["functionCall"].get("args", {}), dict):
        found.append(f"{where}.functionCall.args: must be an object")
    if "inlineData" in part and not (part["inlineData"].get("mimeType") and part["inlineData"].get("data")):
        found.append(f"{where}.inlineData: needs mimeType and data")
    return found


def problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be an object"]
    found = [f"unknown field {k!r}" for k in body if k not in TOP_LEVEL]
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return [*found, "contents is not specified"]
    previous_calls: Counter[str] = Counter()
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        role = content.get("role") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            found.append(f"{where}.role: must be user or model, got {role!r}")
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            found.append(f"{where}.parts: must not be empty")
            continue
        for j, part in enumerate(parts):
            found += _part_problems(part, f"{where}.parts[{j}]")
        responses = Counter(
            p["functionResponse"].get("name") for p in parts if isinstance(p, dict) and "functionResponse" in p
        )
        if responses:
            if role != "user":
                found.append(f"{where}: function responses belong in a user turn")
            if responses != previous_calls:
                found.append(
                    f"{where}: function response names {sorted(responses.elements())} do not match the "
                    f"function calls of the previous turn {sorted(previous_calls.elements())}"
                )
        previous_calls = Counter(
            p["functionCall"].get("name") for p in parts if isinstance(p, dict) and "functionCall" in p
        )
    system = body.get("systemInstruction")
    if system is not None:
        for j, part in enumerate(system.get("parts") or [None]):
            found += _part_problems(part, f"systemInstruction.parts[{j}]")
    declared: list[str] = []
    for t, tool in enumerate(body.get("tools") or ()):
        for d, declaration in enumerate(tool.get("functionDeclarations") or ()):
            declared.append(declaration.get("name"))
            where = f"tools[{t}].functionDeclarations[{d}]"
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                found.append(f"{where}: parameters and parametersJsonSchema are exclusive")
            if "parameters" in declaration:
                found += schema_problems(declaration["parameters"], f"{where}.parameters")
            if "parametersJsonSchema" in declaration:
                found += _json_schema_problems(declaration["parametersJsonSchema"], f"{where}.parametersJsonSchema")
    if len(set(declared)) != len(declared):
        found.append("tools: duplicate function names")
    config = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if config is not None:
        if config.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            found.append("toolConfig.functionCallingConfig.mode: unknown mode")
        allowed = config.get("allowedFunctionNames")
        if allowed is not None:
            if config.get("mode") not in ("ANY", "VALIDATED"):
                found.append("toolConfig: allowedFunctionNames needs mode ANY")
            if not set(allowed) <= set(declared):
                found.append("toolConfig: allowedFunctionNames names undeclared functions")
    generation = body.get("generationConfig") or {}
    found += [f"generationConfig: unknown field {k!r}" for k in generation if k not in GENERATION_FIELDS]
    if "responseSchema" in generation:
        found += schema_problems(generation["responseSchema"], "generationConfig.responseSchema")
    if "responseSchema" in generation and "responseJsonSchema" in generation:
        found.append("generationConfig: responseSchema and responseJsonSchema are exclusive")
    if ("responseSchema" in generation or "responseJsonSchema" in generation) and "responseMimeType" not in generation:
        found.append("generationConfig: a response schema needs responseMimeType")
    if not 1 <= generation.get("candidateCount", 1) <= 8:
        found.append("generationConfig.candidateCount: must be 1..8")
    if len(generation.get("stopSequences", ())) > 5:
        found.append("generationConfig.stopSequences: at most 5")
    seed = generation.get("seed", 0)
    if not -(2**31) <= seed < 2**31:
        found.append("generationConfig.seed: must be an int32")
    return found
