"""Request schemas at the HTTP edge: they check types and document the API (OpenAPI).

They tolerate unknown fields (`extra="allow"`), so a field a new client version sends is never
a 422. Translation works on the plain JSON dict afterwards; these models are only a gate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

MAX_MODEL_NAME = 256  # catalog ids are far shorter; a longer name is an attack, and errors quote it


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Open):
    name: StrictStr
    arguments: Any = None


class ToolCallIn(_Open):
    id: StrictStr
    type: StrictStr = "function"
    function: FunctionCall


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[dict[str, Any]] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: StrictStr | None = None
    reasoning_content: StrictStr | None = None


class FunctionDef(_Open):
    name: StrictStr = Field(min_length=1)
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None


class ToolDef(_Open):
    type: StrictStr = "function"
    function: FunctionDef | None = None


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class ChatCompletionRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    n: StrictInt | None = Field(default=None, ge=1, le=8)
    stop: StrictStr | list[StrictStr] | None = None
    tools: list[ToolDef] | None = None
    functions: list[FunctionDef] | None = None  # the legacy spelling of `tools`
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    reasoning_effort: StrictStr | None = None
    user: StrictStr | None = None


class AnthropicMessage(_Open):
    role: Literal["user", "assistant", "system"]  # "system": mid-conversation system messages
    content: StrictStr | list[dict[str, Any]]


class AnthropicTool(_Open):
    name: StrictStr = Field(min_length=1)
    description: StrictStr | None = None
    input_schema: dict[str, Any] | None = None
    type: StrictStr | None = None


class MessagesRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: StrictStr | list[dict[str, Any]] | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    stream: StrictBool | None = False
    temperature: StrictFloat | None = Field(default=None, ge=0, le=1)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    top_k: StrictInt | None = Field(default=None, ge=0)
    stop_sequences: list[StrictStr] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class CountTokensRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: StrictStr | list[dict[str, Any]] | None = None
    tools: list[AnthropicTool] | None = None


class ResponsesRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    input: StrictStr | list[dict[str, Any]]
    instructions: StrictStr | None = None
    stream: StrictBool | None = False
    max_output_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    store: StrictBool | None = None
    previous_response_id: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class GeminiContent(_Open):
    role: StrictStr | None = None
    parts: list[dict[str, Any]]


class GenerationConfig(_Open):
    """Gemini's `generationConfig` in camelCase; the Python SDK's snake_case spellings pass as extras."""

    maxOutputTokens: StrictInt | None = Field(default=None, ge=1)
    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    topP: StrictFloat | None = Field(default=None, ge=0, le=1)
    topK: StrictFloat | None = Field(default=None, ge=1)  # an integer in Google's docs, a float in its Python SDK
    candidateCount: StrictInt | None = Field(default=None, ge=1, le=8)
    stopSequences: list[StrictStr] | None = None
    responseMimeType: StrictStr | None = None
    thinkingConfig: dict[str, Any] | None = None


class GenerateContentRequest(_Open):
    contents: list[GeminiContent] = Field(min_length=1)
    systemInstruction: StrictStr | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    toolConfig: dict[str, Any] | None = None
    generationConfig: GenerationConfig | None = None
    safetySettings: list[dict[str, Any]] | None = None
    cachedContent: StrictStr | None = None


class CountGeminiTokensRequest(_Open):
    """`countTokens`: `contents`, or a whole `generateContentRequest`."""

    contents: list[GeminiContent] | None = None
    generateContentRequest: dict[str, Any] | None = None


class CompletionRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    prompt: StrictStr | list[Any]
    suffix: StrictStr | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    n: StrictInt | None = Field(default=None, ge=1, le=8)
    stop: StrictStr | list[StrictStr] | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    echo: StrictBool | None = None
    best_of: StrictInt | None = Field(default=None, ge=1)
    logprobs: StrictInt | None = None
    user: StrictStr | None = None


class EmbeddingRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=MAX_MODEL_NAME)
    input: StrictStr | list[Any]
    encoding_format: StrictStr | None = None
    dimensions: StrictInt | None = Field(default=None, ge=1)
    user: StrictStr | None = None
