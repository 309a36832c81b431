"""TypedDicts of the Gemini `generateContent` wire format (wire-formats §5), as far as the translators use it.

Requests are emitted in lowerCamelCase; responses are read defensively (every field may be missing).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

JSON = dict[str, Any]

Role = Literal["user", "model"]


class Blob(TypedDict):
    mimeType: str
    data: str  # base64


class FileData(TypedDict):
    mimeType: str
    fileUri: str


class FunctionCall(TypedDict):
    name: str
    args: JSON
    id: NotRequired[str]


class FunctionResponse(TypedDict):
    name: str
    response: JSON
    id: NotRequired[str]


class Part(TypedDict, total=False):
    """A union: exactly one of text / inlineData / fileData / functionCall / functionResponse, plus the
    optional siblings `thought` and `thoughtSignature`."""

    text: str
    inlineData: Blob
    fileData: FileData
    functionCall: FunctionCall
    functionResponse: FunctionResponse
    thought: bool
    thoughtSignature: str


class Content(TypedDict):
    role: Role
    parts: list[Part]


class SystemInstruction(TypedDict):
    parts: list[Part]


class FunctionDeclaration(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: NotRequired[JSON]
    parametersJsonSchema: NotRequired[JSON]


class Tool(TypedDict):
    functionDeclarations: list[FunctionDeclaration]


class FunctionCallingConfig(TypedDict):
    mode: Literal["AUTO", "ANY", "NONE"]
    allowedFunctionNames: NotRequired[list[str]]


class ToolConfig(TypedDict):
    functionCallingConfig: FunctionCallingConfig


class GenerateContentRequest(TypedDict):
    contents: list[Content]
    systemInstruction: NotRequired[SystemInstruction]
    tools: NotRequired[list[Tool]]
    toolConfig: NotRequired[ToolConfig]
    generationConfig: NotRequired[JSON]


class UsageMetadata(TypedDict, total=False):
    promptTokenCount: int
    candidatesTokenCount: int
    totalTokenCount: int
    thoughtsTokenCount: int
    cachedContentTokenCount: int
    toolUsePromptTokenCount: int


class Candidate(TypedDict, total=False):
    content: Content
    finishReason: str
    index: int


class GenerateContentResponse(TypedDict, total=False):
    candidates: list[Candidate]
    promptFeedback: JSON
    usageMetadata: UsageMetadata
    modelVersion: str
    responseId: str
