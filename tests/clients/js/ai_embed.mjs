// AI SDK, embeddings: embed (one value) and embedMany through openai.embedding(model), which
// POSTs /v1/embeddings. INPUT: {"value": "...", "values": ["...", ...]}.
import { createOpenAI } from "@ai-sdk/openai";
import { embed, embedMany } from "ai";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey });
  const one = await embed({ model: openai.embedding(model), value: input.value, maxRetries: 0 });
  const many = await embedMany({
    model: openai.embedding(model),
    values: input.values,
    maxRetries: 0,
  });
  return {
    embedding: one.embedding,
    usage: one.usage,
    embeddings: many.embeddings,
    manyUsage: many.usage,
  };
});
