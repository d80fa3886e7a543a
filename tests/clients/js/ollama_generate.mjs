// ollama-js: generate, streamed or not. INPUT: {"prompt": "...", "stream": false, "think": ...}.
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  const request = { model, prompt: input.prompt, think: input.think };
  if (!input.stream) {
    const answer = await ollama.generate({ ...request, stream: false });
    return { parts: null, text: answer.response, thinking: answer.thinking ?? null, last: answer };
  }
  const parts = [];
  const thinking = [];
  let last = null;
  for await (const part of await ollama.generate({ ...request, stream: true })) {
    parts.push(part.response);
    if (part.thinking) thinking.push(part.thinking);
    last = part;
  }
  return { parts, text: parts.join(""), thinking: thinking.join("") || null, last };
});
