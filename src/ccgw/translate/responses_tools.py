"""Responses tools → upstream function tools under unique names, and the way back (pure).

The upstream knows only function tools, one flat list. Codex sends more (see openai/codex):

* `namespace` tools group function and custom tools (`multi_agent_v1`, one `mcp__<server>` per MCP
  server); each inner tool goes upstream as `<namespace>__<name>`, and its calls come back as items
  that carry `namespace` and the inner `name`, as the Responses API addresses them;
* `custom` (freeform) tools take one string: upstream they are a function with one string
  parameter `input`, and their calls come back as `custom_tool_call` items with a string `input`;
* `local_shell` is run by the client itself: a function taking `command` (argv), and its calls
  come back as `local_shell_call` items;
* `tool_search` run by the client (`execution: "client"`) is a function whose calls come back as
  `tool_search_call` items; the tools its `tool_search_output` loads join the list. ccgw cannot run
  a hosted search, so with any other `tool_search` every deferred tool is sent at once;
* `additional_tools` input items add tools mid-conversation (the upstream's list is per request).

Tools OpenAI runs itself (web search, file search, ...) cannot run upstream and are left out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from ccgw.errors import InvalidRequestError
from ccgw.jsonutil import JSONDecodeError, dumps_str, loads
from ccgw.translate import common

HOSTED_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "image_generation",
        "mcp",
        "computer_use_preview",
        "computer_use",
    }
)
Kind = Literal["function", "custom", "local_shell", "tool_search"]
LOCAL_SHELL = "local_shell"
TOOL_SEARCH = "tool_search"
_MAX_NAME = 64
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_SHELL_SCHEMA = {
    "type": "object",
    "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "description": "The command and its arguments"},
        "workdir": {"type": "string", "description": "The working directory"},
        "timeout_ms": {"type": "integer", "description": "A time limit in milliseconds"},
    },
    "required": ["command"],
}
_SEARCH_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}


@dataclass(frozen=True, slots=True)
class ToolRoute:
    """The client's tool behind one upstream tool name."""

    kind: Kind
    name: str
    namespace: str | None = None


def _custom_schema(tool: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A freeform tool as a function: its description says what the one string must look like."""
    given = tool.get("description")
    description = given if isinstance(given, str) else ""
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt["syntax"] if isinstance(fmt.get("syntax"), str) else "grammar"
        description += f"\n\nThe input must follow this {syntax} grammar:\n{fmt['definition']}"
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The tool's whole input, as free text"}},
        "required": ["input"],
    }
    return description, schema


class ResponsesTools:
    """Collects the upstream tool list of one request and the routes back to the client's tools."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        self.routes: dict[str, ToolRoute] = {}
        self._names: dict[tuple[str | None, str], str] = {}  # (namespace, name) → upstream name
        self._deferred: list[tuple[dict[str, Any], str | None, str]] = []
        self.client_search = False
        self.hosted_search = False

    def upstream_name(self, namespace: Any, name: str) -> str:
        """The upstream name of a client tool (also for tools only seen in history)."""
        ns = namespace if isinstance(namespace, str) and namespace else None
        known = self._names.get((ns, name))
        if known is not None:
            return known
        wanted = name if ns is None else (f"{ns}{name}" if ns.endswith("_") else f"{ns}__{name}")
        wanted = _NAME_CHARS.sub("_", wanted)
        if len(wanted) > _MAX_NAME:
            wanted = wanted[: _MAX_NAME - 9] + "_" + hashlib.sha256(wanted.encode()).hexdigest()[:8]
        unique, n = wanted, 2
        while unique in self.routes or unique in self._names.values():
            unique, n = f"{wanted[: _MAX_NAME - 4]}_{n}", n + 1
        self._names[(ns, name)] = unique
        return unique

    def add_all(self, tools: Any, where: str) -> None:
        if tools is None:
            return
        if not isinstance(tools, list):
            raise InvalidRequestError(f"{where}: must be an array of tools", param=where)
        for i, tool in enumerate(tools):
            self.add(tool, f"{where}[{i}]")

    def add(self, tool: Any, where: str, namespace: str | None = None) -> None:
        kind = tool.get("type") if isinstance(tool, dict) else tool
        if isinstance(kind, str) and kind in HOSTED_TOOLS:
            return
        if not isinstance(tool, dict):
            raise InvalidRequestError(f"{where}: a tool must be an object", param=where)
        if kind == "namespace" and namespace is None:
            self._namespace(tool, where)
        elif kind in ("function", "custom"):
            if tool.get("defer_loading") is True:
                self._deferred.append((tool, namespace, where))
            else:
                self._define(tool, where, namespace)
        elif kind == LOCAL_SHELL:
            self._register(
                "local_shell", LOCAL_SHELL, None, "Runs a shell command on the user's machine", _SHELL_SCHEMA
            )
        elif kind == TOOL_SEARCH:
            self._search(tool)
        else:
            raise InvalidRequestError(
                f"{where}: tools of type {common.shown(kind)} are not supported "
                "(function, custom, namespace, local_shell and tool_search are)",
                param=where,
            )

    def loaded(self, tools: Any, where: str) -> None:
        """Tools a `tool_search_output` loaded: defined now, deferred or not."""
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            members = tool.get("tools") if isinstance(tool, dict) else None
            if isinstance(tool, dict) and tool.get("type") == "namespace" and isinstance(members, list):
                for j, inner in enumerate(members):
                    self._define(inner, f"{where}[{i}].tools[{j}]", tool.get("name"))
            elif isinstance(tool, dict) and tool.get("type") in ("function", "custom"):
                self._define(tool, f"{where}[{i}]", None)

    def finish(self) -> list[dict[str, Any]]:
        """The upstream tool list; deferred tools are sent only when no client search can load them."""
        if not self.client_search:
            for tool, namespace, where in self._deferred:
                self._define(tool, where, namespace)
        return self.specs

    def _namespace(self, tool: dict[str, Any], where: str) -> None:
        name = tool.get("name")
        inner = tool.get("tools")
        if not isinstance(name, str) or not name or not isinstance(inner, list):
            raise InvalidRequestError(f"{where}: a namespace needs a name and an array of tools", param=where)
        for j, member in enumerate(inner):
            self.add(member, f"{where}.tools[{j}]", namespace=name)

    def _define(self, tool: Any, where: str, namespace: Any) -> None:
        if not isinstance(tool, dict):
            raise InvalidRequestError(f"{where}: a tool must be an object", param=where)
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where}: tool name must be a non-empty string", param=where)
        ns = namespace if isinstance(namespace, str) and namespace else None
        if tool.get("type") == "custom":
            description, schema = _custom_schema(tool)
            self._register("custom", name, ns, description, schema)
        else:
            upstream = self.upstream_name(ns, name)
            if upstream in self.routes:
                return
            spec = common.tool_spec(upstream, tool.get("description"), tool.get("parameters"), where)
            self.routes[upstream] = ToolRoute("function", name, ns)
            self.specs.append(spec)

    def _register(self, kind: Kind, name: str, ns: str | None, description: str, schema: dict[str, Any]) -> None:
        upstream = self.upstream_name(ns, name)
        if upstream not in self.routes:
            self.routes[upstream] = ToolRoute(kind, name, ns)
            self.specs.append({"name": upstream, "description": description, "input_schema": schema})

    def _search(self, tool: dict[str, Any]) -> None:
        if tool.get("execution") != "client":
            self.hosted_search = True  # cannot be run here: the deferred tools are sent instead
            return
        self.client_search = True
        parameters = tool.get("parameters")
        schema = parameters if isinstance(parameters, dict) and parameters.get("type") == "object" else _SEARCH_SCHEMA
        description = tool.get("description")
        text = description if isinstance(description, str) else "Searches for more tools and loads them"
        self._register("tool_search", TOOL_SEARCH, None, text, schema)


def custom_input(arguments: str) -> str:
    """A freeform tool's string from the upstream's JSON arguments (`{"input": "..."}`)."""
    try:
        value = loads(arguments) if arguments.strip() else {}
    except JSONDecodeError:
        return arguments
    if isinstance(value, dict):
        if isinstance(value.get("input"), str):
            return str(value["input"])
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(value) == 1 and strings:
            return strings[0]
    return arguments if not isinstance(value, str) else value


def arguments_value(arguments: str) -> dict[str, Any]:
    """Upstream JSON arguments as an object (what `local_shell_call` and `tool_search_call` carry)."""
    return common.arguments_object(arguments)


def shell_action(arguments: str) -> dict[str, Any]:
    """A `local_shell_call` action from the upstream's arguments; a string command becomes `bash -lc`."""
    args = arguments_value(arguments)
    command = args.get("command")
    if isinstance(command, str):
        command = ["bash", "-lc", command]
    elif not isinstance(command, list):
        command = []
    return {
        "type": "exec",
        "command": [str(c) for c in command],
        "env": {},
        "timeout_ms": args.get("timeout_ms") if isinstance(args.get("timeout_ms"), int) else None,
        "working_directory": args.get("workdir") if isinstance(args.get("workdir"), str) else None,
        "user": None,
    }


def shell_arguments(action: Any) -> dict[str, Any]:
    """A `local_shell_call` from history as the upstream's arguments (the inverse of :func:`shell_action`)."""
    action = action if isinstance(action, dict) else {}
    args: dict[str, Any] = {"command": action.get("command") if isinstance(action.get("command"), list) else []}
    if isinstance(action.get("working_directory"), str):
        args["workdir"] = action["working_directory"]
    if isinstance(action.get("timeout_ms"), int):
        args["timeout_ms"] = action["timeout_ms"]
    return args


def output_text(output: Any, where: str) -> str:
    """A tool output as text: a string, an array of content parts, or any JSON value."""
    if output is None or isinstance(output, str | list):
        return common.text_of(output, where)
    return dumps_str(output)
