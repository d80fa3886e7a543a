// ollama-js: chat, streamed or not.
// INPUT: {"messages": [...], "stream": false, "think": ..., "tools": [...]}.
import { Ollama } from "ollama";

import { run } from "./scenario.mjs";

await run(async ({ baseUrl, apiKey, model, input }) => {
  const ollama = new Ollama({ host: baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  const request = { model, messages: input.messages, think: input.think, tools: input.tools };
  if (!input.stream) {
    const answer = await ollama.chat({ ...request, stream: false });
    const { message } = answer;
    return {
      parts: null,
      text: message.content,
      thinking: message.thinking ?? null,
      toolCalls: message.tool_calls ?? null,
      last: answer,
    };
  }
  const parts = [];
  const thinking = [];
  const toolCalls = [];
  let last = null;
  for await (const part of await ollama.chat({ ...request, stream: true })) {
    parts.push(part.message.content);
    if (part.message.thinking) thinking.push(part.message.thinking);
    toolCalls.push(...(part.message.tool_calls ?? []));
    last = part;
  }
  return {
    parts,
    text: parts.join(""),
    thinking: thinking.join("") || null,
    toolCalls: toolCalls.length ? toolCalls : null,
    last,
  };
});
