// The operator view: the queue, the workers, this key's usage and budgets, recent generations
// with their latency breakdown, and the API keys (with their priorities, budgets and tokens
// today). It only reads and calls the API with the key given: the master key sees
// everything, any other key what the API lets it see.

import { ApiError, json, seconds } from "./api.js";

const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "–";
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells.map((c) => (c instanceof Node ? c : cell(c))));
  return tr;
}

function when(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  const today = at.toDateString() === new Date().toDateString();
  return today ? at.toLocaleTimeString() : at.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function between(from, to) {
  return from && to ? seconds((Date.parse(to) - Date.parse(from)) / 1000) : "–";
}

function ns(value) {
  return value === null || value === undefined ? "–" : seconds(value / 1e9);
}

function limit(value) {
  if (value === null || value === undefined) return "default";
  return value === 0 ? "unlimited" : String(value);
}

function ollamaState(state) {
  if (!state || typeof state !== "object") return state;
  return state.ok ? `ok ${state.version || ""}` : `failing: ${state.error || "?"}`;
}

function showQueue(queue) {
  const cards = [
    ["Waiting", queue.depth],
    ["Running", queue.running],
    ["Slots", queue.slots],
    ["Workers", queue.workers],
    ["Oldest wait", seconds(queue.oldest_wait_seconds)],
    ["Average generation", seconds(queue.average_generation_seconds)],
    ["Estimated wait", seconds(queue.estimated_wait_seconds)],
  ];
  $("queue").replaceChildren(
    ...cards.map(([name, value]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = value ?? "–";
      dd.dataset.testid = `queue-${name.toLowerCase().replaceAll(" ", "-")}`;
      div.append(dt, dd);
      return div;
    }),
  );
  const workers = queue.worker_list || [];
  $("workers").hidden = workers.length === 0;
  $("workers").tBodies[0].replaceChildren(
    ...workers.map((w) =>
      row(
        w.id,
        w.host,
        w.running,
        w.slots,
        seconds(w.average_seconds),
        ollamaState(w.ollama),
      ),
    ),
  );
}

function showGenerations(page, keyNames) {
  $("generations").tBodies[0].replaceChildren(
    ...page.data.map((g) => {
      const rate =
        g.completion_tokens && g.eval_duration_ns
          ? (g.completion_tokens / (g.eval_duration_ns / 1e9)).toFixed(1)
          : "–";
      const tr = row(
        when(g.queued_at),
        g.api_key_id === null ? "master" : keyNames.get(g.api_key_id) || g.api_key_id.slice(0, 8),
        g.llm_model,
        cell(g.status, `status-${g.status}`),
        between(g.queued_at, g.started_at),
        between(g.started_at, g.first_token_at),
        between(g.first_token_at, g.finished_at),
        between(g.queued_at, g.finished_at),
        `${ns(g.load_duration_ns)} / ${ns(g.prompt_eval_duration_ns)} / ${ns(g.eval_duration_ns)}`,
        `${g.prompt_tokens ?? "–"} / ${g.completion_tokens ?? "–"}`,
        rate,
      );
      tr.dataset.generation = g.id;
      if (g.error_message) tr.title = `${g.error_type}: ${g.error_message}`;
      return tr;
    }),
  );
}

function budget(value) {
  return value ? String(value) : "none";
}

function showUsage(usage) {
  const b = usage.budgets || {};
  const used = (spent, of) => (of ? `${spent ?? "–"} of ${of}` : String(spent ?? "–"));
  const cards = [
    ["Generations (30 days)", usage.total.generations],
    ["Tokens (30 days)", usage.total.tokens],
    ["Tokens today", used(b.used_today, b.tokens_per_day)],
    ["Tokens this month", used(b.used_this_month, b.tokens_per_month)],
  ];
  $("usage").replaceChildren(
    ...cards.map(([name, value]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = value ?? "–";
      dd.dataset.testid = `usage-${name.toLowerCase().replaceAll(/[^a-z0-9]+/g, "-").replace(/-$/, "")}`;
      div.append(dt, dd);
      return div;
    }),
  );
}

function showKeys(keys, refresh, tokensToday = new Map()) {
  $("keys").tBodies[0].replaceChildren(
    ...keys.map((k) => {
      const status = k.revoked_at ? "revoked" : "active";
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.textContent = "Revoke";
      revoke.dataset.testid = "revoke";
      revoke.hidden = status === "revoked";
      revoke.addEventListener("click", async () => {
        if (!confirm(`Revoke the key "${k.name}"? Requests with it are refused at once.`)) return;
        await json(`api/v1/keys/${k.id}/revoke`, { method: "POST" });
        refresh();
      });
      const actions = document.createElement("td");
      actions.append(revoke);
      const tr = row(
        k.name + (k.is_admin ? " (admin)" : ""),
        `${k.prefix}…`,
        when(k.created_at),
        when(k.last_used_at),
        limit(k.rate_limit_rpm),
        limit(k.concurrency_limit),
        k.weight === 1 ? k.priority : `${k.priority} ×${k.weight}`,
        `${budget(k.tokens_per_day)} / ${budget(k.tokens_per_month)}`,
        tokensToday.get(k.id) ?? 0,
        cell(status, `status-${status}`),
        actions,
      );
      tr.dataset.key = k.id;
      return tr;
    }),
  );
}

function optionalNumber(input) {
  return input.value === "" ? null : Number(input.value);
}

export function operator() {
  const status = $("operator-status");
  let timer = null;

  async function refresh() {
    try {
      showQueue(await json("api/v1/queue"));
      showUsage(await json("api/v1/usage"));
      let keyNames = new Map();
      try {
        const keys = await json("api/v1/keys");
        keyNames = new Map(keys.map((k) => [k.id, k.name]));
        const today = new Date().toISOString().slice(0, 10); // the UTC day, as budgets count
        const usage = await json(`api/v1/usage?key=all&start=${today}&end=${today}`);
        showKeys(keys, refresh, new Map(usage.keys.map((u) => [u.group, u.tokens])));
        showGenerations(await json("api/v1/generations?key=all&limit=20"), keyNames);
        status.textContent = "";
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 403)) throw error;
        // Not the master key: its own generations, and no keys.
        showKeys([], refresh);
        showGenerations(await json("api/v1/generations?limit=20"), keyNames);
        status.textContent = "Keys and other keys' generations need the master key.";
      }
      status.classList.remove("error");
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : "the API does not answer";
      status.classList.add("error");
      // A refused key stays refused: asking again only counts against this address.
      if (error instanceof ApiError && error.status === 401) stop();
    }
  }

  function stop() {
    clearInterval(timer);
    timer = null;
  }

  $("new-key").addEventListener("submit", async (event) => {
    event.preventDefault();
    const shown = $("created-key");
    try {
      const made = await json("api/v1/keys", {
        method: "POST",
        body: {
          name: $("new-key-name").value,
          rate_limit_rpm: optionalNumber($("new-key-rpm")),
          concurrency_limit: optionalNumber($("new-key-concurrency")),
          tokens_per_day: optionalNumber($("new-key-tokens-per-day")),
          priority: $("new-key-priority").value,
        },
      });
      const code = document.createElement("code");
      code.textContent = made.key;
      code.dataset.testid = "created-key-value";
      shown.replaceChildren(`Key "${made.name}" (shown this once, copy it now): `, code);
      shown.classList.remove("error");
      $("new-key").reset();
    } catch (error) {
      shown.textContent = error.message;
      shown.classList.add("error");
    }
    shown.hidden = false;
    refresh();
  });

  function start() {
    refresh();
    timer ??= setInterval(refresh, REFRESH_MS);
  }

  return { show: start, hide: stop, keyChanged: start };
}
