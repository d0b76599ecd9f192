"""Python client driver for the client suite: `python py_clients.py CLIENT CASES IMAGE`.

CLIENT: `langchain` (ChatOpenAI over chat completions), `langchain-responses` (ChatOpenAI with
`use_responses_api=True`) or `agents` (openai-agents over the Responses API), each built as the
README's recipe builds it. CASES: a JSON list of [name, kind, prompt], kind one of plain | stream |
reasoning | tools | image, run one after the other in this process (importing LangChain costs
seconds). Prints one JSON line per case, with its `case` name: what the client returned, or the
error it raised.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from typing import Any

BASE_URL = os.environ["CCGW_BASE_URL"] + "/v1"
API_KEY = os.environ["CCGW_API_KEY"]
MODEL = "deepseek/deepseek-v4-pro"
VISION_MODEL = "deepseek/deepseek-v4-flash-vision-exp"  # the image cases: DeepSeek V4 Pro takes text only


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny-{len(city) * 6} in {city}"


def image_url(path: str) -> str:
    with open(path, "rb") as handle:
        return "data:image/png;base64," + base64.b64encode(handle.read()).decode()


def langchain(case: str, prompt: str, image: str | None, responses: bool) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    model = VISION_MODEL if case == "image" else MODEL
    llm = ChatOpenAI(model=model, base_url=BASE_URL, api_key=API_KEY, max_retries=0, use_responses_api=responses)
    if case == "stream":
        chunks = [chunk for chunk in llm.stream(prompt)]
        return {"text": "".join(c.text for c in chunks), "deltas": sum(1 for c in chunks if c.text)}
    if case == "image":
        message = HumanMessage(
            content=[
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": image_url(image or "")}},
            ]
        )
        return {"text": llm.invoke([message]).text}
    if case == "tools":
        get_weather = tool(weather)
        bound = llm.bind_tools([get_weather])
        history: list[Any] = [HumanMessage(content=prompt)]
        for _ in range(4):
            reply = bound.invoke(history)
            history.append(reply)
            if not reply.tool_calls:
                return {"text": reply.text, "steps": len(history)}
            for call in reply.tool_calls:
                history.append(ToolMessage(content=get_weather.invoke(call["args"]), tool_call_id=call["id"]))
        return {"text": "", "error": "the tool loop did not end"}
    reply = llm.invoke(prompt)
    reasoning = reply.additional_kwargs.get("reasoning_content") or _reasoning_blocks(reply.content)
    return {"text": reply.text, "reasoning": reasoning}


def _reasoning_blocks(content: Any) -> str:
    texts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "reasoning":
            texts += [s.get("text", "") for s in block.get("summary", []) if isinstance(s, dict)]
            if isinstance(block.get("reasoning"), str):
                texts.append(block["reasoning"])
    return "".join(texts)


async def agents(case: str, prompt: str, image: str | None) -> dict[str, Any]:
    from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from agents.items import ReasoningItem
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0)
    model = OpenAIResponsesModel(model=VISION_MODEL if case == "image" else MODEL, openai_client=client)
    tools = [function_tool(weather)] if case == "tools" else []
    agent = Agent(name="assistant", model=model, tools=tools, model_settings=ModelSettings())
    given: Any = prompt
    if case == "image":
        given = [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": prompt},
                    {"type": "input_image", "image_url": image_url(image or "")},
                ],
            }
        ]
    if case == "stream":
        streamed = Runner.run_streamed(agent, given)
        deltas = 0
        async for event in streamed.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                deltas += 1
        return {"text": str(streamed.final_output), "deltas": deltas}
    result = await Runner.run(agent, given, max_turns=4)
    reasoning = "".join(
        s.text for item in result.new_items if isinstance(item, ReasoningItem) for s in item.raw_item.summary
    )
    outputs = [str(item.output) for item in result.new_items if item.type == "tool_call_output_item"]
    return {"text": str(result.final_output), "reasoning": reasoning, "toolResults": outputs}


def run(client: str, case: str, prompt: str, image: str) -> dict[str, Any]:
    try:
        if client == "agents":
            return asyncio.run(agents(case, prompt, image))
        return langchain(case, prompt, image, responses=client == "langchain-responses")
    except Exception as exc:
        return {"error": str(exc)[:500], "name": type(exc).__name__, "status": getattr(exc, "status_code", None)}


def main() -> None:
    client, cases, image = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    for name, kind, prompt in cases:
        started = time.monotonic()
        result = run(client, kind, prompt, image)
        print(json.dumps({"case": name, "seconds": round(time.monotonic() - started, 2), **result}), flush=True)


if __name__ == "__main__":
    main()
