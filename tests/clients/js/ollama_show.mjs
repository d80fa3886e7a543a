// ollama-js: show({model}) (POST /api/show).
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  return await ollama.show({ model });
});
