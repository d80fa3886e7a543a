// AI SDK, chat completions: generateText through createOpenAI(...).chat(model).
// INPUT: {"prompt": "..."}.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const result = await generateText({
    model: openai.chat(model),
    prompt: input.prompt,
    maxRetries: 0,
  });
  return {
    text: result.text,
    finishReason: result.finishReason,
    usage: result.usage,
    responseId: result.response.id,
    modelId: result.response.modelId,
    generationId: result.response.headers?.["x-generation-id"] ?? null,
  };
});
