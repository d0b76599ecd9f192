"""Representative Anthropic Messages requests for measuring `/v1/messages/count_tokens`."""

from __future__ import annotations

from typing import Any

_CODE = (
    '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
'''
    * 20
)

_TOOLS: list[dict[str, Any]] = [
    {
        "name": "read_file",
        "description": "Read a file from the workspace and return its content with line numbers.",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "Absolute path"},
                "offset": {"type": "integer"},
            },
            "required": ["file_path"],
        },
    },
    {
        "name": "bash",
        "description": "Run a shell command and return stdout and stderr.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
]

CORPUS: dict[str, dict[str, Any]] = {
    "short chat": {
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    },
    "english prose": {
        "system": "You are a helpful assistant.",
        "messages": [
            {
                "role": "user",
                "content": "Summarise the following. " + "The quick brown fox jumps over the lazy dog. " * 80,
            }
        ],
    },
    "code and tools": {
        "system": "You are a coding agent.",
        "tools": _TOOLS,
        "messages": [{"role": "user", "content": "Explain this code:\n" + _CODE}],
    },
    "tool loop": {
        "system": "You are a coding agent.",
        "tools": _TOOLS,
        "messages": [
            {"role": "user", "content": "Read main.py"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"file_path": "/w/main.py"}}
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": _CODE}]},
            {"role": "assistant", "content": "It computes Fibonacci numbers."},
            {"role": "user", "content": "Now add a test."},
        ],
    },
    "chinese text": {
        "system": "你是一个乐于助人的助手。",
        "messages": [
            {"role": "user", "content": "请把下面的文字翻译成英文。" + "今天天气很好，我们去公园散步吧。" * 40}
        ],
    },
}
