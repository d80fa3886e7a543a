// ollama-js: pull({model, stream}) (POST /api/pull: the operator's). INPUT: {"stream": true}.
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  if (!input.stream) {
    return { progress: [await ollama.pull({ model, stream: false })] };
  }
  const progress = [];
  for await (const part of await ollama.pull({ model, stream: true })) {
    progress.push(part);
  }
  return { progress };
});
