// AI SDK, chat completions with a tool the SDK runs: the model calls `weather`, the SDK sends
// the result back, the model answers. INPUT: {"prompt": "...", "stream": false}.
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
    text: step.text,
    toolCalls: step.toolCalls.map(({ toolCallId, toolName, input }) => ({
      toolCallId,
      toolName,
      input,
    })),
    toolResults: step.toolResults.map(({ toolCallId, toolName, output }) => ({
      toolCallId,
      toolName,
      output,
    })),
  }));
}

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const request = {
    model: openai.chat(model),
    prompt: input.prompt,
    tools,
    stopWhen: stepCountIs(2),
    maxRetries: 0,
  };
  if (!input.stream) {
    const result = await generateText(request);
    return { text: result.text, parts: null, steps: summary(result.steps) };
  }
  const result = streamText(request);
  const parts = [];
  for await (const part of result.stream) {
    if (part.type === "error") throw part.error;
    if (part.type === "text-delta") parts.push({ type: part.type, text: part.text });
    if (part.type === "tool-call") {
      parts.push({ type: part.type, toolName: part.toolName, input: part.input });
    }
    if (part.type === "tool-result") {
      parts.push({ type: part.type, toolName: part.toolName, output: part.output });
    }
  }
  return { text: await result.text, parts, steps: summary(await result.steps) };
});
