// ollama-js: embeddings({model, prompt}) (the older POST /api/embeddings). INPUT: {"prompt": "..."}.
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  return await ollama.embeddings({ model, prompt: input.prompt });
});
