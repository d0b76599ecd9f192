"""Request bodies for the Provider API (upstream-protocol.md §8): translated from ccgw's internal params,
or the client's own body nearly as it came, golden bodies for each."""

from __future__ import annotations

from typing import Any

import pytest

from ccgw.translate import chat_request, messages_request, responses_request
from ccgw.translate.common import ClientBody, Context, UpstreamRequest
from ccgw.translate.provider_chat import chat_body, native_chat_body
from ccgw.translate.provider_messages import messages_body, native_messages_body
from ccgw.translate.provider_request import endpoint_for, provider_body

PNG = "data:image/png;base64,iVBORw0KGgo="
TOOL = {"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}
STREAMED = {"stream": True, "stream_options": {"include_usage": True}}


def upstream(dialect: Any, body: dict[str, Any], model: str, images: dict[str, str] | None = None) -> UpstreamRequest:
    request = dialect.to_upstream(body, Context(model=model, images=images or {}))
    request.client = ClientBody(
        {chat_request: "chat.completions", messages_request: "messages"}.get(dialect, "responses"), body, images or {}
    )
    return request


def test_chat_body_from_internal_params_golden() -> None:
    request = upstream(
        responses_request,
        {
            "model": "m",
            "instructions": "be brief",
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": PNG}],
                },
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan."}]},
                {"type": "function_call", "call_id": "c1", "name": "bash", "arguments": '{"x":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ],
            "tools": [{"type": "function", "name": "bash", "parameters": {"type": "object", "properties": {}}}],
            "reasoning": {"effort": "high"},
            "temperature": 0.3,
        },
        "moonshotai/Kimi-K3",
    )
    assert chat_body(request.params) == {
        "model": "moonshotai/Kimi-K3",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": PNG}}],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "Plan.",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"x":1}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "max_tokens": 64000,
        "tools": [
            {
                "type": "function",
                "function": {"name": "bash", "description": "", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        "temperature": 0.3,
        "reasoning_effort": "high",
        **STREAMED,
    }


def test_native_chat_body_nearly_as_it_came() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    body = {
        "model": "deepseek-v4-pro",
        "messages": [
            {"role": "developer", "content": "be brief", "name": "ops"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "ok"}, {"type": "image_url", "image_url": {"url": PNG}}],
            },
        ],
        "tools": [TOOL],
        "tool_choice": "required",
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 500,
        "n": 3,
        "stream": False,
        "seed": 7,
        "reasoning_effort": "medium",
    }
    request = upstream(chat_request, body, "Qwen/Qwen3.8-Max", {"https://x/a.png": PNG})
    sent = native_chat_body(body, request.params, images={"https://x/a.png": PNG}, memory={"call_1": "I will run it."})
    assert sent == {
        "model": "Qwen/Qwen3.8-Max",
        "messages": [
            {"role": "developer", "content": "be brief", "name": "ops"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [call], "reasoning_content": "I will run it."},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "(images returned by the tool calls above)"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            },
        ],
        "tools": [TOOL],
        "tool_choice": "required",
        "response_format": {"type": "json_object"},
        "seed": 7,
        "max_tokens": 500,
        "reasoning_effort": "medium",
        **STREAMED,
    }


def test_native_chat_body_text_only_model_gets_the_note_and_deepseek_a_placeholder_reasoning() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    body = {
        "model": "deepseek-v4-pro",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
            {"role": "assistant", "reasoning": "Mine.", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c", "content": "x"},
            {"role": "assistant", "tool_calls": [{**call, "id": "d"}]},
            {"role": "tool", "tool_call_id": "d", "content": "y"},
        ],
    }
    request = upstream(chat_request, body, "deepseek/deepseek-v4-pro")
    sent = native_chat_body(body, request.params, images={}, memory={})
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "[image omitted: deepseek/deepseek-v4-pro takes text only]"}
    ]
    assert sent["messages"][1]["reasoning_content"] == "Mine." and "reasoning" not in sent["messages"][1]
    assert sent["messages"][3]["reasoning_content"].startswith("(The reasoning")


def test_provider_body_chooses_native_or_translated() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "none", "tools": [TOOL]}
    request = upstream(chat_request, chat, "moonshotai/Kimi-K3")
    native = provider_body(request, request.params, "chat", {})
    assert native["tool_choice"] == "none" and native["messages"] == chat["messages"]  # the client's, natively
    legacy = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "functions": [{"name": "f"}]}
    request = upstream(chat_request, legacy, "moonshotai/Kimi-K3")
    translated = provider_body(request, request.params, "chat", {})
    assert "functions" not in translated and translated["tools"][0]["function"]["name"] == "f"
    request = upstream(chat_request, chat, "claude-sonnet-4-6")
    claude = provider_body(request, request.params, "messages", {})
    assert "tool_choice" not in claude  # ccgw's translation: the choice is an instruction, as on the CLI path
    assert "Do not call any tool" in claude["system"][-1]["text"]
    assert claude["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
    ]


@pytest.mark.parametrize(
    ("model", "endpoints", "expected"),
    [
        ("claude-sonnet-4-6", (), "messages"),
        ("deepseek/deepseek-v4-pro", (), "chat"),
        ("claude-new", ("/chat/completions", "/responses"), "chat"),
        ("vendor/x", ("/messages",), "messages"),
    ],
)
def test_endpoint_for_catalog_first_then_claude_prefix(model: str, endpoints: tuple[str, ...], expected: str) -> None:
    assert endpoint_for(model, endpoints) == expected


def test_messages_body_from_internal_params_golden() -> None:
    request = upstream(
        chat_request,
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": PNG}}],
                },
                {
                    "role": "assistant",
                    "reasoning_content": "Plan.",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
                {"role": "user", "content": "thanks"},
            ],
            "tools": [TOOL],
            "reasoning_effort": "high",
            "temperature": 0.2,
            "stop": ["END"],
        },
        "claude-sonnet-4-6",
    )
    cache = {"type": "ephemeral"}
    assert messages_body(request.params, request.stop) == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64000,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "bash", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "done"},
                    {"type": "text", "text": "thanks", "cache_control": cache},
                ],
            },
        ],
        "system": [{"type": "text", "text": "be brief", "cache_control": cache}],
        "tools": [
            {
                "name": "bash",
                "description": "",
                "input_schema": {"type": "object", "properties": {}},
                "cache_control": cache,
            }
        ],
        "stop_sequences": ["END"],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "stream": True,
    }


def test_messages_body_no_thinking_for_a_model_without_effort_levels_keeps_temperature() -> None:
    request = upstream(
        chat_request,
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high", "temperature": 0.2},
        "claude-haiku-4-5-20251001",
    )
    body = messages_body(request.params)
    assert "thinking" not in body and "output_config" not in body and body["temperature"] == 0.2


def test_native_messages_body_nearly_as_it_came() -> None:
    signed = {"type": "thinking", "thinking": "Plan.", "signature": "EqQBCkgIAR"}
    own = {"type": "thinking", "thinking": "Old.", "signature": "ccgw.abc"}
    body = {
        "model": "sonnet",
        "max_tokens": 200000,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "system", "content": "Environment: linux"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
                ],
            },
            {"role": "assistant", "content": [own, {"type": "text", "text": "Earlier."}]},
            {"role": "user", "content": "go on"},
            {
                "role": "assistant",
                "content": [
                    signed,
                    {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
                    {"type": "tool_use", "id": "t1", "name": "bash", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "bash",
                "input_schema": {"type": "object"},
                "input_examples": [{}],
                "cache_control": {"type": "ephemeral"},
            },
            {"name": "WebFetch", "input_schema": {"type": "object"}, "defer_loading": True},
            {"name": "Hidden", "input_schema": {"type": "object"}, "defer_loading": True},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "temperature": 0.5,
        "metadata": {"user_id": "u1", "extra": "x"},
        "context_management": {"edits": []},
        "stream": False,
    }
    request = upstream(messages_request, body, "claude-sonnet-4-6", {"https://x/a.png": PNG})
    sent = native_messages_body(body, request.params, images={"https://x/a.png": PNG})
    assert sent == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 200000,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Earlier."}]},
            {"role": "user", "content": "go on"},
            {"role": "assistant", "content": [signed, {"type": "tool_use", "id": "t1", "name": "bash", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "Tool WebFetch is now available."}],
                    }
                ],
            },
        ],
        "tool_choice": {"type": "auto"},
        "system": [body["system"][0], {"type": "text", "text": "Environment: linux"}],
        "metadata": {"user_id": "u1"},
        "tools": [
            {"name": "bash", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
            {"name": "WebFetch", "input_schema": {"type": "object"}},
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "stream": True,
    }


def test_native_messages_body_no_thinking_when_a_tool_is_forced() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "thinking": {"type": "adaptive"},
        "tool_choice": {"type": "tool", "name": "bash"},
        "tools": [{"name": "bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "go"}],
    }
    request = upstream(messages_request, body, "claude-sonnet-4-6")
    sent = native_messages_body(body, request.params, images={})
    assert "thinking" not in sent and sent["tool_choice"] == {"type": "tool", "name": "bash"}
