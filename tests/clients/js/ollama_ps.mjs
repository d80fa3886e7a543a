// ollama-js: ps() (GET /api/ps).
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  return await ollama.ps();
});
