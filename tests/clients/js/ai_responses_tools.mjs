// AI SDK, the Responses API with a tool the SDK runs: the model calls `weather`, the SDK sends
// the result back (with the earlier output items it has as `item_reference`s, since responses
// are stored by default), the model answers. INPUT: {"prompt": "...", "stream": false}.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { run } from "./scenario.mjs";

const tools = {
  weather: tool({
    description: "The weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  }),
};

function summary(steps) {
  return steps.map((step) => ({
    finishReason: step.finishReason,
    reasoningText: step.reasoningText ?? null,
    text: step.text,
    responseId: step.response.id,
    toolCalls: step.toolCalls.map(({ toolCallId, toolName, input }) => ({
      toolCallId,
      toolName,
      input,
    })),
    toolResults: step.toolResults.map(({ toolCallId, output }) => ({ toolCallId, output })),
  }));
}

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const request = {
    model: openai(model),
    prompt: input.prompt,
    tools,
    stopWhen: stepCountIs(2),
    maxRetries: 0,
  };
  if (!input.stream) {
    const result = await generateText(request);
    return { text: result.text, steps: summary(result.steps) };
  }
  const result = streamText(request);
  for await (const part of result.stream) {
    if (part.type === "error") throw part.error;
  }
  return { text: await result.text, steps: summary(await result.steps) };
});
