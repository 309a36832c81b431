"""TypedDicts of the Anthropic Messages wire format (https://docs.anthropic.com/en/api/messages).

Only what the translators build or read. `total=False` marks optional keys; required ones are listed in a
base class. These describe the wire, they validate nothing: inbound vendor JSON is read defensively.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# ---- request content blocks ------------------------------------------------------------------------


class CacheControl(TypedDict):
    type: Literal["ephemeral"]


class _TextBlock(TypedDict):
    type: Literal["text"]
    text: str


class TextBlock(_TextBlock, total=False):
    cache_control: CacheControl


class Base64Source(TypedDict):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(TypedDict):
    type: Literal["url"]
    url: str


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: Base64Source | URLSource


class _DocumentBlock(TypedDict):
    type: Literal["document"]
    source: Base64Source | URLSource


class DocumentBlock(_DocumentBlock, total=False):
    title: str


class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class _ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str


class ToolResultBlock(_ToolResultBlock, total=False):
    content: str | list[TextBlock]
    is_error: bool


class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


ContentBlock = (
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock
)


class MessageParam(TypedDict):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]


# ---- tools -------------------------------------------------------------------------------------------


class _ToolParam(TypedDict):
    name: str
    input_schema: dict[str, Any]


class ToolParam(_ToolParam, total=False):
    description: str
    strict: bool


class _ToolChoice(TypedDict):
    type: Literal["auto", "any", "tool", "none"]


class ToolChoice(_ToolChoice, total=False):
    name: str
    disable_parallel_tool_use: bool


# ---- the request -----------------------------------------------------------------------------------


class ThinkingEnabled(TypedDict):
    type: Literal["enabled"]
    budget_tokens: int


class JSONSchemaFormat(TypedDict):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(TypedDict, total=False):
    format: JSONSchemaFormat


class Metadata(TypedDict, total=False):
    user_id: str


class _MessagesRequest(TypedDict):
    model: str
    max_tokens: int
    messages: list[MessageParam]


class MessagesRequest(_MessagesRequest, total=False):
    system: str | list[TextBlock]
    stop_sequences: list[str]
    temperature: float
    top_p: float
    top_k: int
    stream: bool
    metadata: Metadata
    tools: list[ToolParam]
    tool_choice: ToolChoice
    thinking: ThinkingEnabled
    output_config: OutputConfig


# ---- the response ----------------------------------------------------------------------------------

StopReason = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"
]


class Usage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None


class Message(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: Usage


class ErrorDetail(TypedDict):
    type: str
    message: str


class ErrorBody(TypedDict):
    type: Literal["error"]
    error: ErrorDetail


class ModelInfo(TypedDict):
    type: Literal["model"]
    id: str
    display_name: str
    created_at: str
