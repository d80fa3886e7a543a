-- wrk script for the throughput scenario: short non-streaming generations, each checked.
-- WRK_SHAPE says what to post (see bench/shapes.py): "ollama-generate" (Ollama's /api/generate),
-- "native" (this server's /api/v1/generate) or "openai-chat" (/v1/chat/completions, the
-- simulator's, the peer's or ours); WRK_MODEL names the model, WRK_AUTH is the Authorization
-- header ("" for none). Every prompt is unique; the answer must be exactly "abcde".
local shape = os.getenv("WRK_SHAPE") or "native"
local model = os.getenv("WRK_MODEL") or "qwen3:8b"
local auth = os.getenv("WRK_AUTH") or ""
local threads = {}
local counter = 0
local expected = '"response":"abcde"'
if shape == "openai-chat" then
  expected = '"content":"abcde"'
end
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local prompt = 'SIM: {\\"tokens\\": [\\"a\\", \\"b\\", \\"c\\", \\"d\\", \\"e\\"]}\\nwrk ' .. counter
  local body
  if shape == "ollama-generate" then
    body = '{"model": "' .. model .. '", "stream": false, "prompt": "' .. prompt .. '"}'
  elseif shape == "openai-chat" then
    body = '{"model": "' .. model .. '", "stream": false, "messages": [{"role": "user", '
      .. '"content": "' .. prompt .. '"}]}'
  else
    body = '{"prompt": "' .. prompt .. '"}'
  end
  local headers = {["Content-Type"] = "application/json"}
  if auth ~= "" then
    headers["Authorization"] = auth
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expected, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("wrk_requests=%d\n", summary.requests))
  io.write(string.format("wrk_bad=%d\n", math.max(total_bad, errors)))
  io.write(string.format("wrk_seconds=%f\n", summary.duration / 1e6))
  io.write(string.format("wrk_p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("wrk_p99_us=%d\n", latency:percentile(99)))
end
