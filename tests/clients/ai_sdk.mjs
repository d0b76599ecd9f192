// Vercel AI SDK driver for the client suite: `node ai_sdk.mjs PROVIDER CASE PROMPT [IMAGE]`.
// PROVIDER: openai-compatible | anthropic (both built exactly as the README's recipes build them);
// CASE: generate | stream | reasoning | tools | image. Prints one JSON line: what the SDK returned,
// or the error it raised ({"error": ..., "name": ..., "status": ...}).
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { readFileSync } from "node:fs";

const [provider, kase, prompt, image] = process.argv.slice(2);
const baseURL = process.env.CCGW_BASE_URL; // the gateway's root, e.g. http://localhost:11434
const apiKey = process.env.CCGW_API_KEY;
// The image case asks a model that takes images (DeepSeek V4 Pro takes text only).
const modelId = kase === "image" ? "deepseek/deepseek-v4-flash-vision-exp" : "deepseek/deepseek-v4-pro";
const model =
  provider === "anthropic"
    ? createAnthropic({ baseURL: `${baseURL}/v1`, apiKey })(modelId)
    : createOpenAICompatible({ name: "ccgw", baseURL: `${baseURL}/v1`, apiKey })(modelId);

const tools = {
  get_weather: tool({
    description: "The weather in a city",
    inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
    execute: async ({ city }) => `sunny-${city.length * 6} in ${city}`,
  }),
};

function messages() {
  if (kase !== "image") return undefined;
  const data = readFileSync(image);
  return [{ role: "user", content: [{ type: "text", text: prompt }, { type: "file", data, mediaType: "image/png" }] }];
}

async function main() {
  const base = { model, maxRetries: 0 };
  const input = kase === "image" ? { messages: messages() } : { prompt };
  if (kase === "stream" || kase === "reasoning") {
    const result = streamText({ ...base, ...input, onError: () => {} });
    const deltas = [];
    let failure;
    for await (const part of result.fullStream) {
      if (part.type === "text-delta") deltas.push(part.text);
      if (part.type === "error") failure = part.error;
    }
    if (failure) throw failure;
    return { text: await result.text, deltas: deltas.length, reasoning: await result.reasoningText, finish: await result.finishReason };
  }
  const extra = kase === "tools" ? { tools, stopWhen: stepCountIs(4) } : {};
  const result = await generateText({ ...base, ...input, ...extra });
  return {
    text: result.text,
    reasoning: result.reasoningText,
    finish: result.finishReason,
    steps: result.steps.length,
    toolResults: result.steps.flatMap((s) => s.toolResults.map((r) => r.output)),
  };
}

try {
  console.log(JSON.stringify(await main()));
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.message ?? error), name: error?.name, status: error?.statusCode }));
  process.exitCode = 1;
}
