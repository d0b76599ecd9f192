"""The real CLI (command-code 1.64.0) reads the fake's answers as it would read Command Code's.

Every other test trusts `tests/fakecc`; these prove its answers are ones the real CLI accepts and
understands the way ccgw does: text, reasoning, a tool loop, in-band errors, cache usage, a paused
turn, a skipped malformed line and the refusals ccgw maps.
"""

from __future__ import annotations

from typing import Any

from tests.fakecc.usage import input_tokens
from tests.oracle.harness import CliRun, Oracle

ANSWER = "Hello from deepseek/deepseek-v4-flash."


def result(run: CliRun) -> dict[str, Any]:
    final = [e for e in run.events() if e.get("type") == "result"]
    assert final, run.describe()
    return final[-1]


def event_types(run: CliRun) -> list[str]:
    return [e["event"]["type"] for e in run.events() if e.get("type") == "event"]


def test_cli_plain_prompt_reads_fake_answer_and_usage(oracle: Oracle) -> None:
    run = oracle.run("Say hello")
    assert run.exit_code == 0, run.describe()
    outcome = result(run)
    assert outcome["finalText"] == ANSWER
    sent = run.generations[0]["body"]["params"]
    assert outcome["usage"]["inputTokens"] == input_tokens(sent)
    assert outcome["usage"]["outputTokens"] == 3


def test_cli_reasoning_reads_thinking_then_text(oracle: Oracle) -> None:
    run = oracle.run("Think first", script=["reasoning(reasoning=Step one. Step two.)"])
    assert run.exit_code == 0, run.describe()
    thinking = "".join(e["event"]["delta"] for e in run.events() if e.get("event", {}).get("type") == "thinking_delta")
    assert thinking == "Step one. Step two."
    assert result(run)["finalText"] == ANSWER


def test_cli_tool_loop_runs_final_tool_call_and_sends_result(oracle: Oracle) -> None:
    script = [
        {"name": "tool_call", "params": {"tool": "read_file", "input": {"file_path": "{project}/notes.txt"}}},
        "text(text=The notes say 42.)",
    ]
    run = oracle.run("Read notes.txt", script=script, files={"notes.txt": b"the answer is 42\n"})
    assert run.exit_code == 0, run.describe()
    assert result(run)["finalText"] == "The notes say 42."
    second = run.generations[1]
    history = second["body"]["params"]["messages"]
    assistant = next(m for m in history if m["role"] == "assistant")
    kinds = [p["type"] for p in assistant["content"]]
    assert kinds[0] == "reasoning" and "tool-call" in kinds  # reasoning replayed first
    call = next(p for p in assistant["content"] if p["type"] == "tool-call")
    assert call["input"]["file_path"].endswith("/notes.txt")  # the final tool-call won over tool-input-*
    tool = next(m for m in history if m["role"] == "tool")
    assert tool["content"][0]["toolCallId"] == call["toolCallId"]
    assert "the answer is 42" in tool["content"][0]["output"]["value"]


def test_cli_inband_error_is_a_failure_it_retries(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["inband_error(status=503)", "text"])
    assert run.exit_code == 0, run.describe()
    assert len(run.generations) == 2
    assert "stream_restart" in event_types(run)
    assert result(run)["finalText"] == ANSWER


def test_cli_inband_status_prefix_outranks_status_code(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["inband_error_prefix(status=400,message=bad tool schema)"])
    assert run.exit_code != 0
    assert len(run.generations) == 1  # 400 from the "NNN {json}" prefix: not retried (statusCode said 503)
    assert "400" in result(run)["error"] and "bad tool schema" in result(run)["error"]


def test_cli_reads_cache_reads_and_writes(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["cache_write(tokens=500)"], state={"cache_read_tokens": 1000})
    assert run.exit_code == 0, run.describe()
    usage = result(run)["usage"]
    assert (usage["cacheReadTokens"], usage["cacheWriteTokens"]) == (1000, 500)


def test_cli_continues_paused_turn_and_joins_answer(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["pause_turn(text=First half.)", "text(text=Second half.)"])
    assert run.exit_code == 0, run.describe()
    assert result(run)["finalText"] == "First half.Second half."
    first, second = run.generations
    assert first["body"]["params"]["messages"] == second["body"]["params"]["messages"]  # the same request again


def test_cli_skips_malformed_line(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["malformed_line(text=one two three)"])
    assert run.exit_code == 0, run.describe()
    assert result(run)["finalText"] == "one two three"
    assert len(run.generations) == 1


def test_cli_window_429_is_final(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["http_429(window=fiveHour,retry_after=600)"])
    assert run.exit_code == 5, run.describe()  # the CLI's RATE_LIMITED exit code
    assert len(run.generations) == 1  # never retried
    assert "5-hour usage limit" in result(run)["error"]


def test_cli_spend_cap_is_a_refusal(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["http_spend_cap"])
    assert run.exit_code == 4, run.describe()  # PERMISSION_DENIED: the CLI read code USAGE_EXCEEDED
    assert len(run.generations) == 1


def test_cli_insufficient_credits_400_is_a_refusal(oracle: Oracle) -> None:
    run = oracle.run("Hi", script=["http_400_insufficient_credits"])
    assert run.exit_code == 10, run.describe()  # INSUFFICIENT_CREDITS
    assert len(run.generations) == 1
