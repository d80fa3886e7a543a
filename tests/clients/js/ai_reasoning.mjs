// AI SDK, @ai-sdk/openai-compatible (the provider that reads `reasoning_content`, or
// `reasoning`, from chat completions): the reasoning and the answer, separately.
// `reasoning: "medium"` is sent as `reasoning_effort: "medium"`.
// INPUT: {"prompt": "...", "stream": false}.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const provider = createOpenAICompatible({
    name: "llm",
    baseURL: `${baseUrl}/v1`,
    apiKey,
    includeUsage: true,
  });
  const request = {
    model: provider(model),
    prompt: input.prompt,
    reasoning: "medium",
    maxRetries: 0,
  };
  if (!input.stream) {
    const result = await generateText(request);
    return { reasoningText: result.reasoningText ?? null, text: result.text, parts: null };
  }
  const result = streamText(request);
  const parts = [];
  for await (const part of result.stream) {
    if (part.type === "error") throw part.error;
    if (part.type === "reasoning-delta" || part.type === "text-delta") {
      parts.push({ type: part.type, text: part.text });
    }
  }
  return {
    reasoningText: (await result.reasoningText) ?? null,
    text: await result.text,
    parts,
    usage: await result.usage,
  };
});
