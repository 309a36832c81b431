"""OpenAI chat request -> Gemini `GenerateContentRequest` (wire-formats §6.3, §6.4, traps 13-15, 22).

Simple fields are data (`RENAMES`); code handles only messages, tools, tool_choice and response_format.
What Gemini cannot honour raises `TranslationError(param=...)`; a value moved into Gemini's range is returned
by name so the gateway can say so in `x-gateway-adjusted`. Remote image URLs are fetched by the gateway before
the call (`remote_images` lists them) and handed in as bytes: this module does no I/O.

Thought signatures (Gemini 3 requires the `thoughtSignature` of a `functionCall` part back in later turns) ride
inside the tool-call id the caller sees (`<id>__thought__<base64url signature>`): OpenAI clients echo tool-call
ids verbatim, so history sent back restores the signature without any gateway-side state.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from translators.errors import TranslationError
from translators.gemini.schema import RecursiveSchemaError, clean_json_schema, clean_schema
from translators.gemini.types import Content, FunctionDeclaration, Part

JSON = dict[str, Any]

# OpenAI field -> generationConfig field, copied as they are (ranges are the same on both sides).
RENAMES: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",  # not OpenAI, but sent by many clients written for other vendors
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}
MAX_CANDIDATES = 8
MAX_STOP_SEQUENCES = 5
INT32_MAX = 2**31 - 1
SIGNATURE_MARK = "__thought__"
# Gemini 3 refuses a functionCall part in history without a signature; this documented bypass value is accepted
# for calls that came from another model (wire-formats §6.4 step 6, §8).
BYPASS_SIGNATURE = "skip_thought_signature_validator"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Files API and YouTube URIs are fetched by Gemini itself; any other URL is fetched by the gateway.
GEMINI_FETCHED = ("https://generativelanguage.googleapis.com/", "https://www.youtube.com/", "https://youtu.be/")
AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3"}
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
THINKING_LEVELS = {"minimal": "low", "low": "low", "medium": "high", "high": "high"}
CANNOT_HONOUR = ("audio", "prediction", "web_search_options")  # fields whose effect Gemini cannot give


def model_path(model: str) -> str:
    """`models/{id}` for the URL, refusing names that could change the path (`..`, `?`, `/`, `:`)."""
    name = model.removeprefix("models/")
    if not MODEL_NAME.match(name) or ".." in name:
        raise TranslationError(f"Invalid Gemini model name {model!r}.", param="model")
    return f"models/{name}"


def remote_images(body: JSON) -> list[tuple[str, str]]:
    """(param path, url) of each http(s) image the gateway must fetch before `build_request`."""
    found: list[tuple[str, str]] = []
    for i, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url")
                if isinstance(url, str) and url.startswith(("http://", "https://")) and not _gemini_fetches(url):
                    found.append((f"messages[{i}].content[{j}].image_url.url", url))
    return found


def _gemini_fetches(url: str) -> bool:
    return url.startswith(GEMINI_FETCHED)


def build_request(
    body: JSON, *, model: str, images: Mapping[str, tuple[str, bytes]] | None = None
) -> tuple[JSON, tuple[str, ...]]:
    """The Gemini body for `body` (a validated OpenAI chat request) and the names of params adjusted."""
    for name in CANNOT_HONOUR:
        if body.get(name) is not None:
            raise TranslationError(f"`{name}` is not supported by Gemini models.", param=name)
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise TranslationError("Gemini models here answer with text only.", param="modalities")
    if body.get("logit_bias"):
        raise TranslationError("`logit_bias` is not supported by Gemini models.", param="logit_bias")
    if body.get("logprobs") or body.get("top_logprobs"):
        param = "logprobs" if body.get("logprobs") else "top_logprobs"
        raise TranslationError("Log probabilities are not available from Gemini models here.", param=param)

    adjusted: list[str] = []
    tools, tool_names = _tools(body)
    system, contents = _Messages(images or {}, gemini3=model.removeprefix("models/").startswith("gemini-3")).run(
        body.get("messages") or []
    )
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tool_config = _tool_config(body, tool_names)
    if tool_config is not None and tool_config[1] is not None:
        allowed = set(tool_config[1])
        tools = [{"functionDeclarations": [f for f in tools[0]["functionDeclarations"] if f["name"] in allowed]}]
    if tools:
        out["tools"] = tools
    if tool_config is not None:
        out["toolConfig"] = {"functionCallingConfig": tool_config[0]}
    config = _generation_config(body, model, adjusted)
    if config:
        out["generationConfig"] = config
    return out, tuple(adjusted)


# ---- generationConfig ----------------------------------------------------------------------------


def _generation_config(body: JSON, model: str, adjusted: list[str]) -> JSON:
    config: JSON = {}
    for openai_name, gemini_name in RENAMES.items():
        value = body.get(openai_name)
        if value is not None:
            config[gemini_name] = value
    top_k = config.get("topK")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise TranslationError("`top_k` must be a positive integer.", param="top_k")
    n = config.get("candidateCount")
    if n is not None and n > MAX_CANDIDATES:
        raise TranslationError(f"Gemini returns at most {MAX_CANDIDATES} choices (`n`).", param="n")
    if n == 1:
        del config["candidateCount"]
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop is not None:
        stops = [s for s in ([stop] if isinstance(stop, str) else stop) if s]
        if len(stops) > MAX_STOP_SEQUENCES:
            raise TranslationError(f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences.", param="stop")
        if stops:
            config["stopSequences"] = stops
    seed = body.get("seed")
    if seed is not None:
        if not -INT32_MAX - 1 <= seed <= INT32_MAX:  # Gemini's seed is an int32: keep it deterministic
            seed = seed % (INT32_MAX + 1)
            adjusted.append("seed")
        config["seed"] = seed
    _response_format(body.get("response_format"), config)
    effort = body.get("reasoning_effort")
    if effort is not None:
        config["thinkingConfig"] = _thinking(effort, model)
    return config


def _thinking(effort: Any, model: str) -> JSON:
    if model.removeprefix("models/").startswith("gemini-3"):
        level = THINKING_LEVELS.get(effort)
        if level is None:
            raise TranslationError(f"Unsupported reasoning_effort {effort!r} for {model}.", param="reasoning_effort")
        return {"thinkingLevel": level}
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise TranslationError(f"Unsupported reasoning_effort {effort!r} for {model}.", param="reasoning_effort")
    return {"thinkingBudget": budget}


def _response_format(fmt: Any, config: JSON) -> None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return
    kind = fmt.get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind != "json_schema":
        raise TranslationError(f"Unsupported response_format type {kind!r}.", param="response_format.type")
    config["responseMimeType"] = "application/json"
    schema = (fmt.get("json_schema") or {}).get("schema")
    if schema is None:
        return
    param = "response_format.json_schema.schema"
    try:
        config["responseSchema"] = clean_schema(schema, param=param)
    except RecursiveSchemaError:
        config["responseJsonSchema"] = clean_json_schema(schema, param=param)


# ---- tools -----------------------------------------------------------------------------------------


def _tools(body: JSON) -> tuple[list[JSON], list[str]]:
    declarations: list[FunctionDeclaration] = []
    functions = [t.get("function") for t in body.get("tools") or () if isinstance(t, dict)]
    if not functions and isinstance(body.get("functions"), list):  # the deprecated `functions` field
        functions = body["functions"]
    for k, function in enumerate(functions):
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError("A tool needs a function name.", param=f"tools[{k}].function.name")
        declaration: FunctionDeclaration = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        if parameters is not None:
            param = f"tools[{k}].function.parameters"
            try:
                cleaned = clean_schema(parameters, param=param)
                if cleaned.get("properties") or cleaned.get("type") not in ("object", None):
                    declaration["parameters"] = cleaned
            except RecursiveSchemaError:
                declaration["parametersJsonSchema"] = clean_json_schema(parameters, param=param)
        declarations.append(declaration)
    names = [d["name"] for d in declarations]
    if len(set(names)) != len(names):
        raise TranslationError("Tool names must be unique.", param="tools")
    return ([{"functionDeclarations": declarations}] if declarations else []), names


def _tool_config(body: JSON, names: list[str]) -> tuple[JSON, list[str] | None] | None:
    """(functionCallingConfig, names to keep declared or None) for `tool_choice` (or legacy `function_call`)."""
    choice = body.get("tool_choice")
    param = "tool_choice"
    if choice is None and "function_call" in body:
        legacy = body["function_call"]
        choice = {"type": "function", "function": legacy} if isinstance(legacy, dict) else legacy
        param = "function_call"
    if choice is None:
        return None
    if choice == "none":
        return {"mode": "NONE"}, None
    if choice == "auto":
        return ({"mode": "AUTO"}, None) if names else None
    if not names:
        raise TranslationError("`tool_choice` requires `tools`.", param=param)
    if choice == "required":
        return {"mode": "ANY"}, None
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise TranslationError(f"`tool_choice` names an unknown tool {name!r}.", param=param)
        return {"mode": "ANY", "allowedFunctionNames": [name]}, None
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        wanted = [str((t.get("function") or {}).get("name")) for t in allowed.get("tools") or () if isinstance(t, dict)]
        unknown = [w for w in wanted if w not in names]
        if unknown or not wanted:
            raise TranslationError(f"`allowed_tools` names unknown tools {unknown}.", param=param)
        if allowed.get("mode") == "required":
            return {"mode": "ANY", "allowedFunctionNames": wanted}, None
        # allowedFunctionNames is only valid with ANY: for `auto`, declare just the allowed functions instead
        return {"mode": "AUTO"}, wanted
    raise TranslationError("Unsupported `tool_choice`.", param=param)


# ---- messages --------------------------------------------------------------------------------------


def split_signature(call_id: str) -> tuple[str, str | None]:
    """A tool-call id we issued -> (the id, the thoughtSignature it carries, if any)."""
    base, mark, encoded = call_id.partition(SIGNATURE_MARK)
    if not mark or not encoded:
        return call_id, None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return call_id, None
    return base, base64.b64encode(raw).decode("ascii")


def join_signature(call_id: str, signature: str | None) -> str:
    """The tool-call id shown to the caller: `call_id`, plus the signature when Gemini gave one."""
    if not signature:
        return call_id
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = signature.encode()
    return call_id + SIGNATURE_MARK + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class _Messages:
    """One pass over the OpenAI messages: system text out, `Content`s in, the tool-call id -> name map kept."""

    __slots__ = ("_calls", "_contents", "_gemini3", "_images", "_pending", "_results", "_system")

    def __init__(self, images: Mapping[str, tuple[str, bytes]], *, gemini3: bool) -> None:
        self._images = images
        self._gemini3 = gemini3
        self._system: list[Part] = []
        self._contents: list[Content] = []
        self._calls: dict[str, tuple[str, int]] = {}  # tool_call_id -> (function name, position in its turn)
        self._pending: dict[str, str] = {}  # calls of the last assistant turn still waiting for their result
        self._results: list[tuple[int, Part]] = []  # consecutive tool results, with their call's position

    def run(self, messages: Sequence[Any]) -> tuple[list[Part], list[Content]]:
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise TranslationError("A message must be an object.", param=f"messages[{i}]")
            role = message.get("role")
            if role != "tool":
                self._flush_results()
                if self._pending and role != "function":
                    self._unanswered(i)
            if role in ("system", "developer"):
                text = _text(message.get("content"), f"messages[{i}].content")
                if text:
                    self._system.append({"text": text})
            elif role == "user":
                self._add("user", self._user_parts(message.get("content"), i))
            elif role == "assistant":
                self._add("model", self._assistant_parts(message, i))
            elif role == "tool":
                self._results.append(self._tool_result(message, i))
            elif role == "function":
                name = str(message.get("name") or "")
                content = message.get("content")
                response = _function_response(content if isinstance(content, str) else "")
                self._add("user", [{"functionResponse": {"name": name, "response": response}}])
            else:
                raise TranslationError(f"Unsupported role {role!r}.", param=f"messages[{i}].role")
        self._flush_results()
        if self._pending:
            self._unanswered(len(messages))
        if not self._contents:
            raise TranslationError("Gemini needs at least one user or assistant message.", param="messages")
        return self._system, self._contents

    def _unanswered(self, i: int) -> None:
        ids = ", ".join(sorted(self._pending))
        raise TranslationError(
            f"An assistant message with `tool_calls` must be followed by tool messages answering each "
            f"tool_call_id (missing: {ids}).",
            param=f"messages[{i}]",
        )

    def _flush_results(self) -> None:
        """Consecutive tool messages -> one user turn of functionResponse parts, in the order of the calls."""
        if self._results:
            self._results.sort(key=lambda item: item[0])
            self._add("user", [part for _, part in self._results])
            self._results = []

    def _add(self, role: str, parts: list[Part]) -> None:
        if not parts:
            return
        last = self._contents[-1] if self._contents else None
        if last is not None and last["role"] == role:
            last["parts"].extend(parts)
        else:
            self._contents.append({"role": "user" if role == "user" else "model", "parts": parts})

    def _user_parts(self, content: Any, i: int) -> list[Part]:
        if isinstance(content, str):
            return [{"text": content}] if content else []
        if not isinstance(content, list):
            raise TranslationError("User content must be a string or a list of parts.", param=f"messages[{i}].content")
        parts: list[Part] = []
        for j, part in enumerate(content):
            param = f"messages[{i}].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if part.get("text"):
                    parts.append({"text": part["text"]})
            elif kind == "image_url":
                parts.append(self._image(part.get("image_url") or {}, f"{param}.image_url.url"))
            elif kind == "input_audio":
                audio = part.get("input_audio") or {}
                mime = AUDIO_MIME.get(str(audio.get("format")))
                if mime is None or not isinstance(audio.get("data"), str):
                    raise TranslationError("Audio must be wav or mp3 base64 data.", param=f"{param}.input_audio")
                parts.append({"inlineData": {"mimeType": mime, "data": audio["data"]}})
            elif kind == "file":
                file = part.get("file") or {}
                if not isinstance(file.get("file_data"), str):
                    raise TranslationError(
                        "OpenAI file ids cannot be sent to Gemini; send the file as `file_data`.",
                        param=f"{param}.file",
                    )
                mime, data = _data_url(file["file_data"], f"{param}.file.file_data")
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            else:
                raise TranslationError(f"Unsupported content part type {kind!r}.", param=f"{param}.type")
        return parts

    def _image(self, image: JSON, param: str) -> Part:
        url = image.get("url")
        if not isinstance(url, str):
            raise TranslationError("An image part needs a url.", param=param)
        if url.startswith("data:"):
            mime, data = _data_url(url, param)
            return {"inlineData": {"mimeType": mime, "data": data}}
        if _gemini_fetches(url):
            return {"fileData": {"mimeType": _guess_mime(url), "fileUri": url}}
        fetched = self._images.get(url)
        if fetched is None:
            raise TranslationError("The image could not be fetched.", param=param)
        mime, raw = fetched
        return {"inlineData": {"mimeType": mime, "data": base64.b64encode(raw).decode("ascii")}}

    def _assistant_parts(self, message: JSON, i: int) -> list[Part]:
        parts: list[Part] = []
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "".join(str(p.get("text") or p.get("refusal") or "") for p in content if isinstance(p, dict))
        else:
            text = ""
        if not text and isinstance(message.get("refusal"), str):
            text = message["refusal"]
        if text:
            parts.append({"text": text})
        calls = message.get("tool_calls") or []
        legacy = message.get("function_call")
        if not calls and isinstance(legacy, dict):
            calls = [{"id": "", "type": "function", "function": legacy}]
        self._pending = {}
        for k, call in enumerate(calls):
            param = f"messages[{i}].tool_calls[{k}]"
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise TranslationError("A tool call needs a function name.", param=f"{param}.function.name")
            name = function["name"]
            args = _arguments(function.get("arguments"), f"{param}.function.arguments")
            call_id = call.get("id") or ""
            signature = split_signature(call_id)[1]
            extra = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
            signature = signature or (extra if isinstance(extra, str) else None)
            part: Part = {"functionCall": {"name": name, "args": args}}
            if signature:
                part["thoughtSignature"] = signature
            elif self._gemini3 and k == 0:
                part["thoughtSignature"] = BYPASS_SIGNATURE
            parts.append(part)
            if call_id:
                self._calls[call_id] = (name, k)
                self._pending[call_id] = name
        return parts

    def _tool_result(self, message: JSON, i: int) -> tuple[int, Part]:
        call_id = message.get("tool_call_id")
        found = self._calls.get(call_id) if isinstance(call_id, str) else None
        if found is None or not isinstance(call_id, str):
            raise TranslationError(
                "A tool message must answer a tool call of an earlier assistant message.",
                param=f"messages[{i}].tool_call_id",
            )
        name, order = found
        self._pending.pop(call_id, None)
        text = _text(message.get("content"), f"messages[{i}].content")
        return order, {"functionResponse": {"name": name, "response": _function_response(text)}}


def _text(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    raise TranslationError("Content must be a string or a list of text parts.", param=param)


def _arguments(raw: Any, param: str) -> JSON:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        args = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise TranslationError("Tool call arguments must be a JSON object.", param=param) from None
    if not isinstance(args, dict):
        raise TranslationError("Tool call arguments must be a JSON object.", param=param)
    return args


def _function_response(text: str) -> JSON:
    """Gemini's `functionResponse.response` must be an object: a JSON object result is sent as it is, anything
    else under `output` (https://ai.google.dev/api/caching#FunctionResponse)."""
    if text[:1] == "{":
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    return {"output": text}


def _data_url(url: str, param: str) -> tuple[str, str]:
    """`data:<mime>[;base64],<data>` -> (mime, base64 data). Base64 payloads pass through without a copy."""
    header, comma, payload = url.partition(",")
    if not comma or not header.startswith("data:"):
        raise TranslationError("Malformed data URL.", param=param)
    meta = header[5:].split(";")
    mime = meta[0].strip().lower()
    if not mime or "/" not in mime:
        raise TranslationError("A data URL needs a media type (data:image/png;base64,...).", param=param)
    if "base64" in (m.strip().lower() for m in meta[1:]):
        if not payload:
            raise TranslationError("The data URL is empty.", param=param)
        return mime, payload
    raw = urllib.parse.unquote_to_bytes(payload)
    if not raw:
        raise TranslationError("The data URL is empty.", param=param)
    return mime, base64.b64encode(raw).decode("ascii")


def _guess_mime(url: str) -> str:
    path = urllib.parse.urlsplit(url).path.lower()
    for suffix, mime in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif")):
        if path.endswith(suffix):
            return mime
    if "youtube" in url or "youtu.be" in url:
        return "video/mp4"
    return "image/jpeg"
