-- wrk script for the throughput scenario: short non-streaming generations, each checked.
-- WRK_MODE=direct posts Ollama's /api/generate to the simulator; WRK_MODE=gateway posts
-- /api/v1/generate to the API. Every prompt is unique; the answer must be exactly "abcde".
local mode = os.getenv("WRK_MODE") or "gateway"
local auth = os.getenv("WRK_AUTH") or ""
local threads = {}
local counter = 0
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local prompt = 'SIM: {\\"tokens\\": [\\"a\\", \\"b\\", \\"c\\", \\"d\\", \\"e\\"]}\\nwrk ' .. counter
  local body
  if mode == "direct" then
    body = '{"model": "qwen3:8b", "stream": false, "prompt": "' .. prompt .. '"}'
  else
    body = '{"prompt": "' .. prompt .. '"}'
  end
  local headers = {["Content-Type"] = "application/json"}
  if mode ~= "direct" then
    headers["Authorization"] = auth
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"response":"abcde"', 1, true) then
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
