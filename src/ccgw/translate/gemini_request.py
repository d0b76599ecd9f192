"""Gemini `generateContent` request → upstream params (pure; the body is already JSON-validated).

`contents` alternate `user` and `model` turns of typed parts: text (`thought: true` marks reasoning),
`inlineData` and `fileData` images, `functionCall` and `functionResponse`. A user turn splits into its
function responses (an upstream `tool` message) and its other parts, like Anthropic's. Gemini's calls may
carry no `id`: a call then gets one from its position, and a response without one answers the oldest
unanswered call of that name. Field names come in camelCase (REST, Gemini CLI) or snake_case (the Python
SDK); both are read. Tools Google would run itself (search, code execution, …) are left out.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.jsonutil import dumps_str
from ccgw.translate import common, gemini_options
from ccgw.translate.common import Context, ToolIds, UpstreamRequest
from ccgw.translate.gemini_fields import get, objects

FILES_API = "https://generativelanguage.googleapis.com/"
_STATELESS = "ccgw stores nothing"


def _image_source(part: dict[str, Any]) -> str | None:
    """A fileData part's http(s) URI, the images the gateway fetches before translating."""
    data = get(part, "fileData")
    uri = get(data, "fileUri")
    return uri if isinstance(uri, str) and uri.startswith(("http://", "https://")) else None


def _all_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for content in get(body, "contents") or []:
        for part in get(content, "parts") or []:
            if isinstance(part, dict):
                parts.append(part)
                parts.extend(p for p in get(get(part, "functionResponse"), "parts") or [] if isinstance(p, dict))
    return parts


def remote_image_urls(body: dict[str, Any]) -> list[str]:
    urls = [_image_source(part) for part in _all_parts(body)]
    return [u for u in urls if u and not u.startswith(FILES_API)]


def _image(part: dict[str, Any], where: str, ctx: Context) -> dict[str, Any]:
    inline = get(part, "inlineData")
    if inline is not None:
        mime = get(inline, "mimeType")
        data = get(inline, "data")
        if not isinstance(mime, str) or not mime.lower().startswith("image/"):
            raise InvalidRequestError(f"{where}.inlineData: only images are supported, not {mime!r}", param=where)
        if not isinstance(data, str):
            raise InvalidRequestError(f"{where}.inlineData.data: must be base64 text", param=where)
        data = data.replace("-", "+").replace("_", "/")  # the Python SDK sends URL-safe base64
        return common.data_url_part(f"data:{mime};base64,{data}", f"{where}.inlineData", ctx.max_image_bytes)
    data = get(part, "fileData")
    uri, mime = get(data, "fileUri"), get(data, "mimeType")
    if isinstance(mime, str) and not mime.lower().startswith("image/"):
        raise InvalidRequestError(f"{where}.fileData: only images are supported, not {mime!r}", param=where)
    if isinstance(uri, str) and uri.startswith(FILES_API):
        raise InvalidRequestError(
            f"{where}.fileData: files uploaded to Google's Files API cannot be read through ccgw ({_STATELESS}); "
            "send the image as inlineData or a public http(s) URL",
            param=where,
        )
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise InvalidRequestError(f"{where}.fileData.fileUri: must be an http(s) URL", param=where)
    return common.image_part(uri, f"{where}.fileData", ctx)


def _text(part: dict[str, Any], where: str) -> str:
    text = part["text"]
    if not isinstance(text, str):
        raise InvalidRequestError(f"{where}.text: must be a string", param=where)
    return text


class _Contents:
    """Walks `contents` once, pairing function responses with the calls they answer."""

    def __init__(self, ctx: Context, ids: ToolIds) -> None:
        self.ctx = ctx
        self.ids = ids
        self.messages: list[dict[str, Any]] = []
        self._unanswered: dict[str, deque[str]] = {}  # tool name → call ids, oldest first

    def add(self, content: dict[str, Any], index: int) -> None:
        where = f"contents[{index}]"
        role = get(content, "role") or "user"
        parts = objects(get(content, "parts"), f"{where}.parts")
        if role == "model":
            self._model(parts, where, index)
        elif role in ("user", "function", "tool"):
            self._user(parts, where)
        else:
            raise InvalidRequestError(f"{where}.role: must be user or model, not {common.shown(role)}", param=where)

    def _model(self, parts: list[dict[str, Any]], where: str, index: int) -> None:
        reasoning: list[dict[str, Any]] = []
        content: list[dict[str, Any]] = []
        self._unanswered = {}
        for j, part in enumerate(parts):
            at = f"{where}.parts[{j}]"
            call = get(part, "functionCall")
            if call is not None:
                content.append(self._call(call, at, f"call_{index}_{j}"))
            elif isinstance(part.get("text"), str) and part["text"]:
                target = reasoning if part.get("thought") is True else content
                target.append({"type": "reasoning" if target is reasoning else "text", "text": part["text"]})
            # thoughtSignature-only parts and generated media: nothing the upstream can replay
        if content:
            self.messages.append({"role": "assistant", "content": reasoning + content})

    def _call(self, call: Any, where: str, fallback_id: str) -> dict[str, Any]:
        name = get(call, "name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where}.functionCall.name: must be a non-empty string", param=where)
        call_id = self.ids.upstream(get(call, "id") or fallback_id, f"{where}.functionCall.id")
        self._unanswered.setdefault(name, deque()).append(call_id)
        return common.tool_call_part(call_id, name, get(call, "args"))

    def _user(self, parts: list[dict[str, Any]], where: str) -> None:
        results: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            at = f"{where}.parts[{j}]"
            response = get(part, "functionResponse")
            if response is not None:
                result, images = self._response(response, at)
                results.append(result)
                moved.extend(images)
            elif "text" in part:
                text = _text(part, at)
                if text:
                    others.append(common.text_part(text))
            elif get(part, "inlineData") is not None or get(part, "fileData") is not None:
                others.append(_image(part, at, self.ctx))
            elif get(part, "executableCode") is not None or get(part, "codeExecutionResult") is not None:
                raise InvalidRequestError(f"{at}: code execution parts are not supported", param=at)
            elif set(part) - {"thoughtSignature", "thought_signature", "thought"}:
                raise InvalidRequestError(f"{at}: unsupported part {common.shown(sorted(part))}", param=at)
        if results:
            self.messages.append({"role": "tool", "content": results})
        if moved:
            self.messages.append(common.tool_images_message(moved))
        if others:
            self.messages.append({"role": "user", "content": others})

    def _response(self, response: Any, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        name = get(response, "name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where}.functionResponse.name: must be a non-empty string", param=where)
        waiting = self._unanswered.get(name) or deque()
        given = get(response, "id")
        if given:
            call_id = self.ids.upstream(given, f"{where}.functionResponse.id")
            if call_id in waiting:
                waiting.remove(call_id)
        else:
            call_id = waiting.popleft() if waiting else self.ids.upstream(f"call_{name}", where)
        text, error = _result_text(get(response, "response"))
        images = [
            _image(p, f"{where}.functionResponse.parts[{k}]", self.ctx)
            for k, p in enumerate(objects(get(response, "parts"), f"{where}.functionResponse.parts"))
            if get(p, "inlineData") is not None or get(p, "fileData") is not None
        ]
        return common.tool_result_part(call_id, name, text, is_error=error), images


def _result_text(output: Any) -> tuple[str, bool]:
    """A function response as text, and whether it reports an error.

    Clients wrap a tool's result in one key (Gemini CLI `output` or `error`, the Python SDK `result`);
    a lone string there is the result itself, anything else travels as JSON.
    """
    if isinstance(output, dict) and len(output) == 1:
        ((key, value),) = output.items()
        if key == "error":
            return (value if isinstance(value, str) else dumps_str(value)), True
        if key in ("output", "result", "content") and isinstance(value, str):
            return value, False
    return dumps_str(output if output is not None else {}), False


def include_thoughts(body: dict[str, Any]) -> bool:
    """Whether the client asked for thought parts (`thinkingConfig.includeThoughts`)."""
    return get(get(get(body, "generationConfig"), "thinkingConfig"), "includeThoughts") is True


def _system(
    body: dict[str, Any], generation: gemini_options.Generation, choice: dict[str, Any], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The upstream `system` (the one place it is built): `systemInstruction` (a Content, or plain
    text), then the instructions standing in for the output format and the function-calling mode."""
    instruction = get(body, "systemInstruction")
    if isinstance(instruction, str):
        texts = [instruction]
    elif isinstance(instruction, dict):
        parts = objects(get(instruction, "parts"), "systemInstruction.parts")
        texts = [_text(p, f"systemInstruction.parts[{i}]") for i, p in enumerate(parts) if "text" in p]
    elif instruction is None:
        texts = []
    else:
        raise InvalidRequestError("systemInstruction: must be a Content object", param="systemInstruction")
    extra = (generation.instruction or "", common.tool_choice_instruction(choice, tools) or "")
    return common.system_blocks([(text, False) for text in (*texts, *extra)])


def to_upstream(body: dict[str, Any], ctx: Context, *, stream: bool = False) -> UpstreamRequest:
    """The upstream request for a `generateContent` body; what ccgw cannot honour is a 400 naming its field."""
    if get(body, "cachedContent"):
        raise InvalidRequestError(
            f"cachedContent is not supported: {_STATELESS}; send the contents themselves", param="cachedContent"
        )
    ids = ToolIds()
    walker = _Contents(ctx, ids)
    for i, content in enumerate(objects(get(body, "contents"), "contents")):
        walker.add(content, i)
    if not walker.messages:
        raise InvalidRequestError("contents: at least one part with content is needed", param="contents")
    generation = gemini_options.generation(body, ctx.efforts)
    tools = gemini_options.tools(body)
    messages, omitted = ctx.finalize(walker.messages)
    params: dict[str, Any] = {
        "model": ctx.model,
        "messages": messages,
        "tools": tools,
        "system": _system(body, generation, gemini_options.tool_choice(body, tools), tools),
        "max_tokens": common.clamp_max_tokens(
            generation.max_tokens, ctx.max_tokens_default, "generationConfig.maxOutputTokens"
        ),
        **dict(generation.sampling),
    }
    if generation.effort:
        params["reasoning_effort"] = generation.effort
    return UpstreamRequest(
        params=params,
        stream=stream,
        n=generation.n,
        stop=generation.stops,
        tool_ids=ids.originals,
        omitted_images=omitted,
    )
