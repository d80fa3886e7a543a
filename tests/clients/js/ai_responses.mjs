// AI SDK, the Responses API: createOpenAI(...)(model) is openai.responses(model), which POSTs
// /v1/responses. INPUT: {"prompt": "...", "stream": false}.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const request = { model: openai(model), prompt: input.prompt, maxRetries: 0 };
  if (!input.stream) {
    const result = await generateText(request);
    return {
      text: result.text,
      deltas: null,
      finishReason: result.finishReason,
      usage: result.usage,
      responseId: result.response.id,
    };
  }
  const result = streamText(request);
  const deltas = [];
  for await (const part of result.stream) {
    if (part.type === "text-delta") deltas.push(part.text);
    if (part.type === "error") throw part.error;
  }
  return {
    text: await result.text,
    deltas,
    finishReason: await result.finishReason,
    usage: await result.usage,
    responseId: (await result.response).id,
  };
});
