// AI SDK, chat completions: streamText through createOpenAI(...).chat(model).
// INPUT: {"prompt": "..."}.
import { createOpenAI } from "@ai-sdk/openai";
import { streamText } from "ai";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const result = streamText({ model: openai.chat(model), prompt: input.prompt, maxRetries: 0 });
  const deltas = [];
  for await (const part of result.stream) {
    if (part.type === "text-delta") deltas.push(part.text);
    if (part.type === "error") throw part.error;
  }
  return {
    deltas,
    text: await result.text,
    finishReason: await result.finishReason,
    usage: await result.usage,
  };
});
