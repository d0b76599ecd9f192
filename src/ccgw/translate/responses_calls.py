"""Upstream tool calls → Responses output items in the shape of the client's tool (pure).

The route (:class:`~ccgw.translate.responses_tools.ToolRoute`) says which client tool an upstream
tool name stands for: a function (with its `namespace`, when it has one), a freeform `custom` tool,
`local_shell` or a client-run `tool_search`. Each call becomes the item type the Responses API
uses for that tool, with its streaming events (argument or input deltas) where it has them.
"""

from __future__ import annotations

from typing import Any

from ccgw.translate.responses_tools import ToolRoute, arguments_value, custom_input, shell_action
from ccgw.upstream.events import ToolCall

ID_PREFIXES = {"function": "fc", "custom": "ctc", "local_shell": "lsh", "tool_search": "tsc"}


def kind_of(route: ToolRoute | None) -> str:
    return route.kind if route is not None else "function"


def call_item(call: ToolCall, route: ToolRoute | None, item_id: str, call_id: str) -> dict[str, Any]:
    """The completed output item for `call`."""
    kind = kind_of(route)
    item: dict[str, Any] = {"id": item_id, "status": "completed", "call_id": call_id}
    if kind == "custom":
        item.update(
            type="custom_tool_call", name=route.name if route else call.name, input=custom_input(call.arguments)
        )
    elif kind == "local_shell":
        item.update(type="local_shell_call", action=shell_action(call.arguments))
    elif kind == "tool_search":
        item.update(type="tool_search_call", execution="client", arguments=arguments_value(call.arguments))
    else:
        item.update(type="function_call", name=route.name if route else call.name, arguments=call.arguments)
    if route is not None and route.namespace and kind in ("function", "custom"):
        item["namespace"] = route.namespace
    return item


def opened(item: dict[str, Any]) -> dict[str, Any]:
    """The item as `response.output_item.added` shows it: in progress, no arguments or input yet."""
    head = {**item, "status": "in_progress"}
    if item["type"] == "function_call":
        head["arguments"] = ""
    elif item["type"] == "custom_tool_call":
        head["input"] = ""
    return head


def deltas(item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(event type, fields) between `added` and `done`: the arguments or input, in one delta."""
    if item["type"] == "function_call":
        return [
            ("response.function_call_arguments.delta", {"delta": item["arguments"]}),
            ("response.function_call_arguments.done", {"arguments": item["arguments"]}),
        ]
    if item["type"] == "custom_tool_call":
        return [
            ("response.custom_tool_call_input.delta", {"delta": item["input"]}),
            ("response.custom_tool_call_input.done", {"input": item["input"]}),
        ]
    return []
