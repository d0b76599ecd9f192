"""Responses tools beyond plain functions (namespace, custom, local_shell, tool_search, additional_tools):
request translation, history replay, and the output items their calls come back as."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from ccgw.errors import InvalidRequestError
from ccgw.translate import responses_request
from ccgw.translate.common import Context, UpstreamRequest
from ccgw.translate.responses_stream import ResponsesStream, fold
from ccgw.upstream.events import Finish, ToolCall, Usage

CTX = Context(model="moonshotai/Kimi-K3")
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
NAMESPACE = {
    "type": "namespace",
    "name": "mcp__probe__",
    "description": "Tools of the probe MCP server",
    "tools": [
        {"type": "function", "name": "echo", "description": "Echoes", "parameters": {"type": "object"}},
        {"type": "function", "name": "add", "parameters": {"type": "object"}},
    ],
}
AGENTS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents",
    "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}],
}
PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edits files",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"},
}


def upstream(body: dict[str, Any]) -> UpstreamRequest:
    return responses_request.to_upstream({"model": "m", "input": "hi", **body}, CTX)


def names(request: UpstreamRequest) -> list[str]:
    return [t["name"] for t in request.params.get("tools", [])]


def answer(request: UpstreamRequest, call: ToolCall) -> dict[str, Any]:
    """The folded response (and every stream event checked against the SDK's types) for one call."""
    stream = ResponsesStream(
        response_id="resp_1", model="m", created_at=1, request_echo={}, tool_routes=request.tool_routes
    )
    payloads = stream.start() + stream.feed(0, call) + stream.feed(0, Finish("tool-calls", Usage()))
    for payload in payloads:
        EVENTS.validate_python(payload)
    response = fold(payloads)
    Response.model_validate(response)
    return response


def test_namespace_tools_flattened_under_unique_names() -> None:
    request = upstream({"tools": [NAMESPACE, AGENTS, {"type": "function", "name": "echo"}]})
    assert names(request) == ["mcp__probe__echo", "mcp__probe__add", "multi_agent_v1__spawn_agent", "echo"]
    assert request.params["tools"][0]["description"] == "Echoes"


def test_namespaced_call_comes_back_with_namespace_and_inner_name() -> None:
    request = upstream({"tools": [AGENTS]})
    item = answer(request, ToolCall("call_1", "multi_agent_v1__spawn_agent", '{"task":"x"}'))["output"][0]
    assert item["type"] == "function_call"
    assert (item["namespace"], item["name"], item["arguments"], item["call_id"]) == (
        "multi_agent_v1",
        "spawn_agent",
        '{"task":"x"}',
        "call_1",
    )


def test_namespaced_call_history_replayed_under_the_upstream_name() -> None:
    params = upstream(
        {
            "tools": [NAMESPACE],
            "input": [
                {"role": "user", "content": "hi"},
                {
                    "type": "function_call",
                    "namespace": "mcp__probe__",
                    "name": "echo",
                    "call_id": "c1",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c1", "output": "echoed"},
            ],
        }
    ).params
    assert params["messages"][1]["content"][0]["toolName"] == "mcp__probe__echo"
    assert params["messages"][2]["content"][0]["toolName"] == "mcp__probe__echo"


def test_long_and_odd_namespaced_names_fit_the_upstream_limit() -> None:
    tool = {"type": "namespace", "name": "mcp__a.b" + "x" * 80, "tools": [{"type": "function", "name": "run"}]}
    (name,) = names(upstream({"tools": [tool]}))
    assert len(name) <= 64
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def test_custom_tool_is_one_string_input_with_its_grammar_described() -> None:
    request = upstream({"tools": [PATCH]})
    (spec,) = request.params["tools"]
    assert spec["input_schema"]["required"] == ["input"]
    assert "start: begin_patch hunk+ end_patch" in spec["description"]
    item = answer(request, ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch\\n*** End Patch"}'))["output"][
        0
    ]
    assert item == {
        "id": "ctc_1_0",
        "type": "custom_tool_call",
        "status": "completed",
        "call_id": "call_2",
        "name": "apply_patch",
        "input": "*** Begin Patch\n*** End Patch",
    }


def test_custom_tool_call_history_and_output_replayed() -> None:
    params = upstream(
        {
            "tools": [PATCH],
            "input": [
                {"role": "user", "content": "edit"},
                {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done!"},
            ],
        }
    ).params
    call = params["messages"][1]["content"][0]
    assert (call["toolName"], call["input"]) == ("apply_patch", {"input": "*** Begin Patch"})
    assert params["messages"][2]["content"][0]["output"] == {"type": "text", "value": "Done!"}


def test_local_shell_is_offered_and_its_calls_are_local_shell_call_items() -> None:
    request = upstream({"tools": [{"type": "local_shell"}]})
    assert names(request) == ["local_shell"]
    item = answer(request, ToolCall("call_3", "local_shell", '{"command":["ls","-la"],"workdir":"/tmp"}'))["output"][0]
    assert item["type"] == "local_shell_call"
    assert item["call_id"] == "call_3"
    assert item["action"] == {
        "type": "exec",
        "command": ["ls", "-la"],
        "env": {},
        "timeout_ms": None,
        "working_directory": "/tmp",
        "user": None,
    }


def test_local_shell_history_replayed_as_a_call_and_its_output() -> None:
    params = upstream(
        {
            "tools": [{"type": "local_shell"}],
            "input": [
                {"role": "user", "content": "list"},
                {
                    "type": "local_shell_call",
                    "id": "lsh_1",
                    "call_id": "c9",
                    "status": "completed",
                    "action": {"type": "exec", "command": ["ls"], "env": {}, "working_directory": "/w"},
                },
                {"type": "local_shell_call_output", "id": "c9", "output": "a.txt"},
            ],
        }
    ).params
    call = params["messages"][1]["content"][0]
    assert (call["toolName"], call["input"]) == ("local_shell", {"command": ["ls"], "workdir": "/w"})
    assert params["messages"][2]["content"][0]["output"]["value"] == "a.txt"


def test_additional_tools_items_add_tools_for_the_request() -> None:
    request = upstream(
        {
            "tools": [{"type": "function", "name": "a"}],
            "input": [
                {"type": "additional_tools", "role": "developer", "tools": [AGENTS, {"type": "web_search"}]},
                {"role": "user", "content": "hi"},
            ],
            "reasoning": {"effort": "high", "context": "all_turns", "summary": "auto"},
        }
    )
    assert names(request) == ["a", "multi_agent_v1__spawn_agent"]


def test_hosted_tool_search_sends_the_deferred_tools_at_once() -> None:
    deferred = {"type": "function", "name": "late", "defer_loading": True}
    request = upstream({"tools": [{"type": "tool_search"}, deferred]})
    assert names(request) == ["late"]


def test_client_tool_search_hides_deferred_tools_until_its_output_loads_them() -> None:
    search = {"type": "tool_search", "execution": "client", "description": "Find tools"}
    deferred = {
        "type": "namespace",
        "name": "mcp__big__",
        "tools": [{"type": "function", "name": "late", "defer_loading": True}],
    }
    first = upstream({"tools": [search, deferred]})
    assert names(first) == ["tool_search"]
    item = answer(first, ToolCall("call_4", "tool_search", '{"query":"late"}'))["output"][0]
    assert item == {
        "id": "tsc_1_0",
        "type": "tool_search_call",
        "status": "completed",
        "call_id": "call_4",
        "execution": "client",
        "arguments": {"query": "late"},
    }
    later = upstream(
        {
            "tools": [search, deferred],
            "input": [
                {"role": "user", "content": "hi"},
                {
                    "type": "tool_search_call",
                    "call_id": "call_4",
                    "execution": "client",
                    "arguments": {"query": "late"},
                },
                {
                    "type": "tool_search_output",
                    "call_id": "call_4",
                    "execution": "client",
                    "tools": [
                        {"type": "namespace", "name": "mcp__big__", "tools": [{"type": "function", "name": "late"}]}
                    ],
                },
            ],
        }
    )
    assert names(later) == ["tool_search", "mcp__big__late"]
    assert later.params["messages"][2]["content"][0]["output"]["value"] == "Loaded tools: mcp__big__"


def test_named_tool_choice_in_a_namespace_uses_the_upstream_name() -> None:
    params = upstream(
        {"tools": [AGENTS], "tool_choice": {"type": "function", "namespace": "multi_agent_v1", "name": "spawn_agent"}}
    ).params
    assert "tool_choice" not in params  # honoured as an instruction, as the CLI never sends the field
    assert params["system"][-1]["text"] == "In this reply, call the tool `multi_agent_v1__spawn_agent`."


def test_namespace_without_tools_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        upstream({"tools": [{"type": "namespace", "name": "x"}]})
    assert caught.value.param == "tools[0]"


def test_ultra_effort_is_the_upstreams_max() -> None:
    assert upstream({"reasoning": {"effort": "ultra"}}).params["reasoning_effort"] == "max"
