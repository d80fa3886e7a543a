// The API as any client sees it: the key, JSON errors in each dialect's envelope, and
// Server-Sent Events read from a fetch body (EventSource cannot send the Authorization header).

const KEY = "llm-api-key";
// The API's root is the parent of this page (/ui), also when a proxy mounts it under a prefix.
const ROOT = new URL(".", document.baseURI);

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  // Worth another try: the API (or what is behind it) may be back in a moment.
  get transient() {
    return this.status >= 502;
  }
}

// Any fetch failure (no answer, a cut connection) other than our own abort.
export class ConnectionLost extends Error {}

async function errorOf(response) {
  let type = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const error = (await response.json()).error;
    if (typeof error === "string") {
      message = error; // Ollama's envelope
    } else if (error) {
      message = error.message || message;
      type = error.code || error.type || type; // OpenAI's code is the server's type
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, type, message);
}

// fetch() with the key; an error status throws ApiError, a failed connection ConnectionLost.
export async function call(path, { method = "GET", body, headers = {}, signal } = {}) {
  const all = { Authorization: `Bearer ${apiKey()}`, ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, ROOT), {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ConnectionLost(String(error));
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function json(path, options) {
  const response = await call(path, options);
  return response.status === 204 ? null : response.json();
}

// The events of a text/event-stream body, parsed as the WHATWG rules say: each event as
// {id, event, data} (id: the event's own `id:` line, or null), each comment as {comment}.
// A body that breaks off throws ConnectionLost; the caller decides whether it had ended.
export async function* events(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let event = "";
  let id = null;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new ConnectionLost(String(error));
      }
      if (chunk.done) return;
      buffer += chunk.value;
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (let line of lines) {
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) yield { id, event: event || "message", data: data.join("\n") };
          data = [];
          event = "";
          id = null;
        } else if (line.startsWith(":")) {
          yield { comment: line.slice(1).trimStart() };
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "data") data.push(value);
          else if (field === "event") event = value;
          else if (field === "id") id = value;
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
}
