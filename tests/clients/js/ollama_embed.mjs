// ollama-js: embed({model, input}) (POST /api/embed). INPUT: {"input": ["...", ...]}.
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  return await ollama.embed({ model, input: input.input });
});
