// The playground: a prompt streamed through OpenAI's chat endpoint, resumed through the native
// resume endpoint when the connection is lost (with the last event id seen: nothing is lost or
// repeated) or the page is reloaded (from the start: the page forgets the text, not the id).

import { ApiError, ConnectionLost, call, events, json } from "./api.js";

// The generation under way, in this tab's session storage, so that a reload picks it up.
const RUNNING = "llm-running";
// The first retry comes at once: the server cancels a generation nobody follows after
// DISCONNECT_GRACE_SECONDS (5 s by default). Then once a second, while nothing arrives.
const RECONNECT_MS = [100, 1000];
const MAX_RECONNECTS = 20;
// After asking for a cancel, how long the stream may take to end with its `cancelled` event.
const STOP_GRACE_MS = 3000;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The stream broke off before its end.
class Unfinished extends Error {}

class View {
  constructor() {
    this.output = $("output");
    this.queue = $("queue-position");
    this.status = $("status");
  }

  begin(id) {
    this.output.textContent = "";
    this.output.classList.remove("error");
    $("generation-id").textContent = id || "";
    $("send").disabled = true;
    $("stop").disabled = false;
  }

  identify(id) {
    $("generation-id").textContent = id;
  }

  append(text) {
    this.output.append(text);
  }

  queued(place) {
    if (!place) {
      this.queue.hidden = true;
      return;
    }
    const wait = place.estimated_wait_seconds;
    this.queue.textContent =
      `Queued: position ${place.position}` + (wait === null ? "" : `, about ${wait} s`);
    this.queue.hidden = false;
  }

  say(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle("error", isError);
  }

  end(text, isError = false) {
    this.queued(null);
    this.say(text, isError);
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

class Generation {
  constructor(view) {
    this.view = view;
    this.id = null;
    this.lastId = null;
    this.over = false;
    this.stopping = false;
    this.aborter = new AbortController();
  }

  async start(model, prompt) {
    this.view.begin(null);
    this.view.say("sending…");
    const body = { model, stream: true, messages: [{ role: "user", content: prompt }] };
    let response;
    try {
      response = await call("v1/chat/completions", {
        method: "POST",
        body,
        signal: this.aborter.signal,
      });
    } catch (error) {
      this.fail(error);
      return;
    }
    this.id = response.headers.get("X-Generation-ID");
    this.view.identify(this.id);
    sessionStorage.setItem(RUNNING, JSON.stringify({ id: this.id, prompt }));
    this.view.say("streaming…");
    await this.follow(() => this.readChat(response.body));
  }

  async resume(id) {
    this.id = id;
    this.view.begin(id);
    this.view.say("resuming…");
    await this.follow(() => this.readNative());
  }

  // Read until the end, reconnecting after a lost connection.
  async follow(read) {
    let failures = 0;
    for (;;) {
      const before = this.lastId;
      try {
        await read();
        return;
      } catch (error) {
        if (this.aborter.signal.aborted) return this.finish("stopped");
        const lost = error instanceof ConnectionLost || error instanceof Unfinished;
        if (!lost && !(error instanceof ApiError && error.transient)) return this.fail(error);
      }
      failures = this.lastId === before ? failures + 1 : 1;
      if (failures > MAX_RECONNECTS) return this.fail(new Error("the connection was lost"));
      this.view.say("connection lost; resuming…");
      await sleep(RECONNECT_MS[Math.min(failures, RECONNECT_MS.length) - 1]);
      if (this.aborter.signal.aborted) return this.finish("stopped");
      read = () => this.readNative();
    }
  }

  comment(text) {
    if (text.startsWith("queued ")) this.view.queued(JSON.parse(text.slice(7)));
    else if (text === "keep-alive") this.view.queued(null);
  }

  // OpenAI's chunks (each with its event id), `: queued {...}` comments, `data: [DONE]`.
  async readChat(body) {
    for await (const e of events(body, this.aborter.signal)) {
      if (e.comment !== undefined) {
        this.comment(e.comment);
        continue;
      }
      if (e.data === "[DONE]") return this.finish("done");
      const chunk = JSON.parse(e.data);
      if (chunk.error) return this.failed(chunk.error.code, chunk.error.message);
      const text = chunk.choices?.[0]?.delta?.content;
      if (text) this.text(text);
      if (e.id !== null) this.lastId = e.id;
    }
    throw new Unfinished();
  }

  // The native resume stream: the events after Last-Event-ID, `data: {}` at the end.
  async readNative() {
    const headers = this.lastId === null ? {} : { "Last-Event-ID": this.lastId };
    const response = await call(`api/v1/generations/${this.id}/stream`, {
      headers,
      signal: this.aborter.signal,
    });
    this.view.say(this.stopping ? "stopping…" : "streaming…");
    if (response.status === 204) return this.finish("done");
    for await (const e of events(response.body, this.aborter.signal)) {
      if (e.comment !== undefined) {
        this.comment(e.comment);
        continue;
      }
      const payload = JSON.parse(e.data);
      if (e.event === "queued") this.view.queued(payload.queue);
      else if (e.event === "error") return this.failed(payload.error.type, payload.error.message);
      else if (Object.keys(payload).length === 0) return this.finish("done");
      else if (payload.response) this.text(payload.response);
      if (e.id !== null) this.lastId = e.id;
    }
    throw new Unfinished();
  }

  text(text) {
    this.view.queued(null);
    this.view.append(text);
  }

  async stop() {
    this.stopping = true;
    this.view.say("stopping…");
    if (this.id === null) {
      this.aborter.abort();
      return;
    }
    try {
      await json(`api/v1/generations/${this.id}/cancel`, { method: "POST" });
    } catch (error) {
      this.view.say(`could not cancel: ${error.message}`, true);
    }
    // The stream ends with its `cancelled` event; if it does not, stop reading it.
    setTimeout(() => this.over || this.aborter.abort(), STOP_GRACE_MS);
  }

  finish(text) {
    if (this.over) return;
    this.over = true;
    sessionStorage.removeItem(RUNNING);
    this.view.end(text);
  }

  failed(type, message) {
    if (type === "cancelled") return this.finish("stopped");
    this.fail(new ApiError(0, type, message));
  }

  fail(error) {
    if (this.over) return;
    this.over = true;
    sessionStorage.removeItem(RUNNING);
    this.view.end(error.message, true);
  }
}

async function loadModels() {
  const select = $("model");
  const status = $("key-status");
  try {
    const models = (await json("v1/models")).data.map((m) => m.id);
    const chosen = select.value;
    select.replaceChildren(...models.map((id) => new Option(id, id, false, id === chosen)));
    status.textContent = "";
    status.classList.remove("error");
  } catch (error) {
    select.replaceChildren();
    status.textContent = error instanceof ApiError ? error.message : "the API does not answer";
    status.classList.add("error");
  }
}

export function playground() {
  const view = new View();
  let current = null;

  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = $("prompt").value;
    if (!prompt.trim() || (current && !current.over)) return;
    current = new Generation(view);
    await current.start($("model").value, prompt);
  });
  $("stop").addEventListener("click", () => current && !current.over && current.stop());
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("ask").requestSubmit();
  });

  const running = JSON.parse(sessionStorage.getItem(RUNNING) || "null");
  if (running) {
    $("prompt").value = running.prompt;
    current = new Generation(view);
    current.resume(running.id);
  }
  return { keyChanged: loadModels };
}
