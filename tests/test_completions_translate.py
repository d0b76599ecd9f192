"""Legacy completions (`/v1/completions`) → upstream params, and turn events → `text_completion` chunks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from openai.types import Completion

from ccgw.errors import InvalidRequestError, UpstreamError
from ccgw.jsonutil import dumps
from ccgw.translate import completions_request
from ccgw.translate.common import Context
from ccgw.translate.completions_stream import CompletionsStream, fold
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, TurnReader, Usage
from ccgw.upstream.ndjson import NDJSONDecoder

CTX = Context(model="deepseek/deepseek-v4-flash")


def translate(body: dict[str, Any], ctx: Context = CTX) -> Any:
    return completions_request.to_upstream({"model": "m", **body}, ctx)


def refused(body: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        translate(body)
    return caught.value


def user_text(params: dict[str, Any]) -> str:
    return str(params["messages"][0]["content"][0]["text"])


def system_of(instruction: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": instruction}]


def test_request_prompt_continued_with_openai_defaults_as_the_cli_sends_them() -> None:
    body = {"prompt": "def add(a, b):", "temperature": 0.2, "top_p": 0.9, "stop": "\n\n", "user": "u", "logprobs": 2}
    up = translate(body)
    assert up.params == {  # system blocks, tools always, no top_p, no effort unless asked for
        "model": "deepseek/deepseek-v4-flash",
        "system": system_of(completions_request.CONTINUE),
        "tools": [],
        "max_tokens": 16,
        "temperature": 0.2,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "def add(a, b):"}]}],
    }
    assert (up.n, up.stop, up.stream, up.variants) == (1, ("\n\n",), False, ())


def test_request_thinking_left_to_the_model_where_it_cannot_be_turned_off() -> None:
    params = translate({"prompt": "x", "max_tokens": 64}, Context(model="moonshotai/Kimi-K3")).params
    assert "reasoning_effort" not in params and params["max_tokens"] == 64
    assert translate({"prompt": "x", "reasoning_effort": "high"}).params["reasoning_effort"] == "high"
    assert translate({"prompt": "x", "reasoning_effort": "low"}).params["reasoning_effort"] == "high"  # V4's nearest
    assert "reasoning_effort" not in translate({"prompt": "x", "reasoning_effort": "none"}).params


def test_request_suffix_asks_to_fill_the_gap() -> None:
    params = translate({"prompt": "int x = ", "suffix": ";\nreturn x;"}).params
    assert params["system"] == system_of(completions_request.FILL)
    assert user_text(params) == "<prefix>int x = </prefix>\n<suffix>;\nreturn x;</suffix>"


@pytest.mark.parametrize(
    "prompt",
    [
        "<｜fim▁begin｜>int x = <｜fim▁hole｜>;\nreturn x;<｜fim▁end｜>",  # Continue's template for deepseek models
        "<|fim_prefix|>int x = <|fim_suffix|>;\nreturn x;<|fim_middle|>",  # Zed prompt_format "qwen"
        "<fim_prefix>int x = <fim_suffix>;\nreturn x;<fim_middle>",
        "<|code_prefix|>int x = <|code_suffix|>;\nreturn x;<|code_middle|>",
        "<PRE> int x =  <SUF>;\nreturn x; <MID>",
        "[SUFFIX];\nreturn x;[PREFIX]int x = ",
    ],
)
def test_request_code_model_fim_templates_become_prefix_and_suffix(prompt: str) -> None:
    params = translate({"prompt": prompt, "stop": ["<|endoftext|>", "<|fim_prefix|>"]}).params
    assert params["system"] == system_of(completions_request.FILL)
    text = user_text(params).replace("int x =  <", "int x = <")  # Code Llama's template pads the prefix
    assert text == "<prefix>int x = </prefix>\n<suffix>;\nreturn x;</suffix>"


def test_request_fim_template_keeps_the_context_before_it() -> None:
    prompt = "// path: a.c\n<fim_prefix>int x = <fim_suffix><fim_middle>"
    assert (
        user_text(translate({"prompt": prompt}).params) == "<prefix>// path: a.c\nint x = </prefix>\n<suffix></suffix>"
    )


def test_request_plain_prompt_mentioning_a_marker_is_continued() -> None:
    params = translate({"prompt": "explain <fim_prefix> tokens"}).params
    assert params["system"] == system_of(completions_request.CONTINUE)


def test_request_editor_stop_lists_longer_than_chat_allows() -> None:
    assert len(translate({"prompt": "x", "stop": [f"s{i}" for i in range(40)]}).stop) == 40


def test_request_empty_prompt_still_sends_text() -> None:
    assert user_text(translate({"prompt": ""}).params) == completions_request.EMPTY_PROMPT


def test_request_several_prompts_times_n_ordered_prompt_by_prompt() -> None:
    up = translate({"prompt": ["a", "b"], "n": 2, "stream": True, "stream_options": {"include_usage": True}})
    assert up.n == 4 and up.include_usage and up.stream
    assert [user_text(p) for p in up.choice_params()] == ["a", "a", "b", "b"]
    assert up.params == up.choice_params()[0]


def test_request_one_prompt_list_is_a_plain_request() -> None:
    up = translate({"prompt": ["only"], "n": 3})
    assert up.variants == () and up.n == 3 and user_text(up.params) == "only"


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"prompt": "x", "echo": True}, "echo", "echo is not supported"),
        ({"prompt": [1, 2, 3]}, "prompt", "token-id prompts"),
        ({"prompt": [[1, 2], [3]]}, "prompt", "token-id prompts"),
        ({"prompt": []}, "prompt", "non-empty array"),
        ({"prompt": None}, "prompt", "must be a string"),
        ({"prompt": "x", "best_of": 3}, "best_of", "cannot rank"),
        ({"prompt": ["a", "b", "c"], "n": 3}, "n", "at most 8"),
        ({"prompt": "x", "stop": ["a"] * 65}, "stop", "up to 64"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens", "positive integer"),
    ],
)
def test_request_refusals_say_why(body: dict[str, Any], param: str, words: str) -> None:
    error = refused(body)
    assert error.param == param and words in error.message


def test_request_best_of_equal_to_n_is_accepted() -> None:
    assert translate({"prompt": "x", "n": 2, "best_of": 2}).n == 2


# --- streams ----------------------------------------------------------------------------------


def chunks_of(events: list[tuple[int, Any]], **kw: Any) -> list[dict[str, Any]]:
    stream = CompletionsStream(completion_id="cmpl-1", model="m", created=7, **kw)
    out = stream.start()
    for index, event in events:
        out += stream.feed(index, event)
    return out + stream.finish()


def test_stream_text_finish_and_usage_chunk_readable_by_the_sdk() -> None:
    usage = Usage(input_tokens=12, cache_read_tokens=4, output_tokens=5, reasoning_tokens=2)
    events = [
        (0, ReasoningDelta("hidden")),
        (0, TextDelta("return ")),
        (0, ToolCall("c", "t", "{}")),
        (0, TextDelta("a + b")),
        (0, Finish("length", usage)),
    ]
    chunks = chunks_of(events, include_usage=True)
    assert [c["choices"][0]["text"] for c in chunks[:-1]] == ["return ", "a + b", ""]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "length"]
    usage = Completion.model_validate(chunks[-1]).usage  # the SDK's model wants a finish_reason on choices
    assert chunks[-1]["choices"] == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 5)
    folded = Completion.model_validate(fold(chunks))
    assert folded.choices[0].text == "return a + b" and folded.choices[0].finish_reason == "length"
    assert folded.object == "text_completion" and folded.id == "cmpl-1"


def test_stream_tool_call_finish_is_a_stop() -> None:
    chunks = chunks_of([(0, ToolCall("c", "t", "{}")), (0, Finish("tool_calls", Usage()))])
    assert Completion.model_validate(fold(chunks)).choices[0].finish_reason == "stop"


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    chunks = chunks_of([(0, TextDelta("x")), (0, Finish("stop", Usage()))])
    assert all(c["choices"] for c in chunks)


def test_stream_failure_is_one_error_then_nothing() -> None:
    chunks = chunks_of(
        [(0, TextDelta("par")), (0, Failure(UpstreamError("cut"))), (0, Finish("stop", Usage()))], include_usage=True
    )
    assert chunks[1:] == [
        {"error": {"message": "cut", "type": "upstream_error", "param": None, "code": "upstream_error"}}
    ]


def test_fold_orders_choices_by_index() -> None:
    events = [(1, TextDelta("B")), (0, TextDelta("A")), (1, Finish("stop", Usage())), (0, Finish("length", Usage()))]
    folded = fold(chunks_of(events, include_usage=True))
    assert [(c["index"], c["text"], c["finish_reason"]) for c in folded["choices"]] == [
        (0, "A", "length"),
        (1, "B", "stop"),
    ]


TRANSCRIPT = b"".join(
    dumps(e) + b"\n"
    for e in [
        {"type": "reasoning-delta", "text": "hmm"},
        {"type": "text-delta", "text": "    return "},
        {"type": "text-delta", "text": "a + b  # ✓"},
        {"type": "finish", "finishReason": "stop", "totalUsage": {"inputTokens": 30, "outputTokens": 6}},
    ]
)


def run_pipeline(cuts: list[int]) -> dict[str, Any]:
    decoder, reader = NDJSONDecoder(), TurnReader()
    stream = CompletionsStream(completion_id="c", model="m", created=1, include_usage=True)
    chunks = stream.start()
    for start, end in itertools.pairwise([0, *cuts, len(TRANSCRIPT)]):
        for raw in decoder.feed(TRANSCRIPT[start:end]):
            chunks += [c for event in reader.feed(raw) for c in stream.feed(0, event)]
    chunks += [c for raw in decoder.finish() for event in reader.feed(raw) for c in stream.feed(0, event)]
    chunks += [c for event in reader.end() for c in stream.feed(0, event)]
    return fold(chunks + stream.finish())


def test_pipeline_every_split_folds_to_the_same_completion() -> None:
    expected = run_pipeline([])
    assert expected["choices"][0]["text"] == "    return a + b  # ✓"
    assert expected["usage"]["completion_tokens"] == 6
    for cut in range(1, len(TRANSCRIPT)):
        assert run_pipeline([cut]) == expected, f"split at {cut}"
